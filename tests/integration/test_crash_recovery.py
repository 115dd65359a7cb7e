"""A worker killed with SIGKILL in the middle of an apply, on real Temporal and real terraform.

The worker runs as a separate `tfo worker` process. Its apply runs under the detached
sentinel (activities/apply_sentinel.py), so the kill must neither abort the apply
half-way nor make the next worker apply the same plan a second time.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from tests.reliability.figures import record_figure
from tests.stacks import PROVIDER, state_resources, state_serial, write_stack
from tests.stacks import WorkspaceTemplate as W
from tfo.config.loader import load_config
from tfo.config.payloads import RunReport, RunStatus, WorkspaceStatus
from tfo.daemon import runs

# A guard against hanging forever if something is broken; never a pass/fail criterion.
GIVE_UP = 180.0


def counted_main_tf(name: str, counter: Path, sleep: float) -> str:
    """One null_resource (output `id`) whose create appends a line to `counter`, then sleeps."""
    return (
        PROVIDER
        + f'\nresource "null_resource" "{name}" {{\n'
        + '  triggers = {\n    trigger = "v1"\n  }\n'
        + '  provisioner "local-exec" {\n'
        + f'    command = "echo created >> {counter} && sleep {sleep}"\n'
        + "  }\n}\n"
        + f'\noutput "id" {{\n  value = null_resource.{name}.id\n}}\n'
    )


def processes_mentioning(text: str) -> dict[int, str]:
    """Live processes whose command line contains `text` (zombies have none)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline:
            found[int(entry.name)] = cmdline
    return found


def start_worker(address: str, queue: str, identity: str, log: Path, cli_config: Path) -> subprocess.Popen[bytes]:
    tfo = Path(sys.executable).parent / "tfo"
    env = {**os.environ, "TF_CLI_CONFIG_FILE": str(cli_config)}
    with log.open("ab") as out:
        return subprocess.Popen(
            [str(tfo), "worker", "--temporal-address", address, "--default-queue", queue, "--identity", identity,
             "--metrics-port", "0"],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the worker's process group, SIGKILL it if it does not go."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@contextlib.contextmanager
def worker_processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []
    try:
        yield procs
    finally:
        for proc in procs:
            stop(proc)


def state_id(ws_dir: Path) -> str:
    state = json.loads((ws_dir / "terraform.tfstate").read_text())
    [resource] = state["resources"]
    [instance] = resource["instances"]
    return str(instance["attributes"]["id"])


def apply_control(binary: str, directory: Path) -> None:
    """The same module applied the way tfo does it (saved plan, then apply), with no crash."""
    steps = (["init", "-input=false"], ["plan", "-input=false", "-out=p.tfplan"], ["apply", "-input=false", "p.tfplan"])
    for args in steps:
        subprocess.run([binary, *args, "-no-color"], cwd=directory, check=True, capture_output=True)


async def test_worker_killed_mid_apply_resumes_without_applying_twice(temporal_env, terraform, tmp_path, task_queue):
    stack = tmp_path / "stack"
    config = write_stack(
        stack,
        [W("slow"), W("after", depends_on=["slow"])],
        binary=terraform.binary,
        top={"task_queue": task_queue},
    )
    creations = tmp_path / "slow-creations.log"
    (stack / "slow" / "main.tf").write_text(counted_main_tf("slow", creations, 4))

    control = tmp_path / "control"
    control.mkdir()
    (control / "main.tf").write_text(counted_main_tf("slow", tmp_path / "control-creations.log", 0))
    await asyncio.to_thread(apply_control, terraform.binary, control)

    client = temporal_env.client
    address = client.service_client.config.target_host
    request = runs.build_request(
        load_config(config), mode="apply", workspaces=[], state_dir=stack / ".tfo", auto_approve=True
    )
    try:
        with worker_processes() as workers:
            workers.append(start_worker(address, task_queue, "crash-w1", tmp_path / "w1.log", terraform.cli_config))
            run_id = await runs.start_run(client, request)
            handle = client.get_workflow_handle(run_id, result_type=RunReport)
            run_dir = stack / ".tfo" / "runs" / run_id / "slow"

            # Wait until terraform is inside the slow create (the provisioner is sleeping).
            seen_running_apply = False
            deadline = time.monotonic() + GIVE_UP
            while True:
                assert workers[0].poll() is None, (tmp_path / "w1.log").read_text()
                assert time.monotonic() < deadline, "the slow apply never started"
                live = await handle.query("status", result_type=RunReport)
                if live is not None:
                    ws = live.workspaces["slow"]
                    seen_running_apply |= ws.status == WorkspaceStatus.RUNNING and ws.operation == "apply"
                log = run_dir / "apply.log"
                provisioning = log.exists() and "Provisioning with 'local-exec'" in log.read_text()
                if provisioning and (run_dir / "apply.pid").exists():
                    break
                await asyncio.sleep(0.05)

            os.killpg(workers[0].pid, signal.SIGKILL)
            killed_at = time.monotonic()
            workers[0].wait()
            assert not (run_dir / "apply.rc").exists(), "the kill did not land mid-apply"
            sentinel = int((run_dir / "apply.pid").read_text().split()[1])
            os.kill(sentinel, 0)  # the apply outlived the worker

            workers.append(start_worker(address, task_queue, "crash-w2", tmp_path / "w2.log", terraform.cli_config))
            # Keep the first attempt's log before the run's clean-up removes it.
            first_log = ""
            result = asyncio.ensure_future(handle.result())
            try:
                deadline = time.monotonic() + GIVE_UP
                while not result.done():
                    assert time.monotonic() < deadline, "the run did not finish after the restart"
                    assert workers[1].poll() is None, (tmp_path / "w2.log").read_text()
                    if not first_log and (run_dir / "apply.rc").exists():
                        first_log = (run_dir / "apply.log").read_text()
                    await asyncio.wait({result}, timeout=0.05)
                report: RunReport = result.result()
                record_figure("kill -9 worker mid-apply: seconds from the kill to the run's end (new worker at once)",
                              time.monotonic() - killed_at)
            finally:
                result.cancel()
            leftovers = processes_mentioning(str(stack))
            assert seen_running_apply, "the status query never showed slow applying"
    finally:
        # Whatever happened, stop every terraform and sentinel of this stack, by PID.
        for pid in processes_mentioning(str(stack)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    assert report.status == RunStatus.SUCCEEDED, report.public_json()
    slow, after = report.workspaces["slow"], report.workspaces["after"]
    assert slow.status == WorkspaceStatus.SUCCEEDED and slow.outcome == "applied"
    assert slow.resumed is True
    assert slow.worker == "crash-w2"
    assert after.status == WorkspaceStatus.SUCCEEDED and after.outcome == "applied"
    assert after.resumed is False
    assert state_resources(stack / "after") == ["null_resource.after"]

    # Created exactly once: one provisioner run, one instance, the serial of one clean apply.
    assert creations.read_text().splitlines() == ["created"]
    assert state_resources(stack / "slow") == ["null_resource.slow"]
    assert state_serial(stack / "slow") == state_serial(control)
    created = re.findall(r"null_resource\.slow: Creation complete after \S+ \[id=(\d+)\]", first_log)
    assert len(created) == 1, first_log
    assert slow.outputs["id"] == created[0] == state_id(stack / "slow")

    # The run cleaned up after itself, and no terraform (or sentinel) is left behind.
    assert not (stack / ".tfo" / "runs" / run_id).exists()
    assert leftovers == {}

