"""Per-workspace task queues on the real dev server and real terraform.

- Two `tfo worker --task-queue` processes each run only their own queue's terraform,
  while the workflows run in-process, and outputs flow between the queues.
- A workspace whose queue no worker polls is shown waiting for one; `tfo cancel`
  ends the run, and `worker_timeout` fails the workspace.
- The original project's infra.yaml schema applies unchanged in embedded mode.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from tests.conftest import running_workers
from tests.integration.cli_helpers import Tfo, kill_dev_servers
from tests.stacks import WorkspaceTemplate as W
from tests.stacks import state_resources, write_stack
from tfo.activities.queues import QueueActivities
from tfo.config.errors import ErrorType
from tfo.config.loader import load_config
from tfo.config.payloads import RunReport, RunStatus, WorkspaceStatus
from tfo.daemon import runs

# A guard against hanging forever if something is broken; never a pass/fail criterion.
GIVE_UP = 180.0
TFO = str(Path(sys.executable).parent / "tfo")
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "original-schema"


def start_worker(
    address: str, default_queue: str, queue: str, identity: str, log: Path, cli_config: Path
) -> subprocess.Popen[bytes]:
    env = {**os.environ, "TF_CLI_CONFIG_FILE": str(cli_config)}
    argv = [TFO, "worker", "--temporal-address", address, "--default-queue", default_queue, "--metrics-port", "0"]
    argv += ["--task-queue", queue, "--identity", identity]
    with log.open("ab") as out:
        return subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
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


def processes_mentioning(text: str) -> list[int]:
    """Live processes whose command line contains `text` (terraform, its apply sentinel)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline:
            found.append(int(entry.name))
    return found


def kill_processes_mentioning(text: str) -> None:
    for pid in processes_mentioning(text):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


async def poller_identities(client: Client, queue: str, kind: TaskQueueType.ValueType) -> set[str]:
    response = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(namespace=client.namespace, task_queue=TaskQueue(name=queue), task_queue_type=kind)
    )
    return {p.identity for p in response.pollers}


async def wait_for_pollers(client: Client, queue: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + GIVE_UP
    while not await QueueActivities(client).queue_has_pollers(queue):
        assert proc.poll() is None, log.read_text()
        assert time.monotonic() < deadline, f"no worker ever polled {queue}"
        await asyncio.sleep(0.1)


async def wait_for_status(handle, name: str, status: WorkspaceStatus) -> RunReport:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + GIVE_UP
    while True:
        live = await handle.query("status", result_type=RunReport)
        if live is not None and live.workspaces[name].status == status:
            return live  # type: ignore[no-any-return]
        assert time.monotonic() < deadline, f"{name} never became {status.value}: {live}"
        await asyncio.sleep(0.1)


async def test_each_queue_runs_on_its_own_worker_and_outputs_flow_across(temporal_env, terraform, tmp_path, task_queue):
    queue_a, queue_b = f"{task_queue}-a", f"{task_queue}-b"
    # net (queue A) -> app (queue B) -> edge (queue A): outputs cross the queues both ways.
    # net's id is only known after its apply, so app and edge are planned again with it.
    config = write_stack(
        tmp_path / "stack",
        [
            W("net", outputs={"vpc_id": "null_resource.net.id"}, task_queue=queue_a),
            W(
                "app",
                depends_on=["net"],
                inputs=[("net", "vpc_id", "vpc_id")],
                variables={"vpc_id": "string"},
                outputs={"endpoint": '"app.${var.vpc_id}"'},
                task_queue=queue_b,
            ),
            W(
                "edge",
                depends_on=["app"],
                inputs=[("app", "endpoint", "endpoint")],
                variables={"endpoint": "string"},
                outputs={"upstream": "var.endpoint"},
                task_queue=queue_a,
            ),
        ],
        binary=terraform.binary,
        top={"task_queue": task_queue},
    )
    client = temporal_env.client
    address = client.service_client.config.target_host
    request = runs.build_request(
        load_config(config), mode="apply", workspaces=[], state_dir=config.parent / ".tfo", auto_approve=True
    )
    logs = {q: tmp_path / f"{q}.log" for q in (queue_a, queue_b)}
    with contextlib.ExitStack() as cleanup, worker_processes() as procs:
        # Whatever happens, no terraform of this stack outlives the test.
        cleanup.callback(kill_processes_mentioning, str(config.parent))
        procs.append(start_worker(address, task_queue, queue_a, "worker-a", logs[queue_a], terraform.cli_config))
        procs.append(start_worker(address, task_queue, queue_b, "worker-b", logs[queue_b], terraform.cli_config))
        await wait_for_pollers(client, queue_a, procs[0], logs[queue_a])
        await wait_for_pollers(client, queue_b, procs[1], logs[queue_b])

        # Each `tfo worker --task-queue` polls its own queue for activities, and nothing else.
        activity, workflow = TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY, TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW
        assert await poller_identities(client, queue_a, activity) == {"worker-a"}
        assert await poller_identities(client, queue_b, activity) == {"worker-b"}
        assert await poller_identities(client, queue_a, workflow) == set()
        assert await poller_identities(client, queue_b, workflow) == set()

        async with running_workers(client, task_queue, identity="workflows"):
            run_id = await runs.start_run(client, request)
            handle = client.get_workflow_handle(run_id, result_type=RunReport)
            report = await asyncio.wait_for(handle.result(), GIVE_UP)
            # The workflow queue was served in-process only, never by the queue workers.
            assert await poller_identities(client, task_queue, workflow) == {"workflows"}
            assert await poller_identities(client, task_queue, activity) == {"workflows"}
        alive = [p.poll() is None for p in procs]
        leftovers = processes_mentioning(str(config.parent))

    assert alive == [True, True], {q: log.read_text() for q, log in logs.items()}
    assert leftovers == []
    assert report.status == RunStatus.SUCCEEDED, report.public_json()
    net, app, edge = (report.workspaces[n] for n in ("net", "app", "edge"))
    assert (net.worker, app.worker, edge.worker) == ("worker-a", "worker-b", "worker-a")
    assert (net.outcome, app.outcome, edge.outcome) == ("applied", "applied", "applied")
    vpc_id = net.outputs["vpc_id"]
    assert vpc_id.isdigit()
    assert app.outputs["endpoint"] == f"app.{vpc_id}"
    assert edge.outputs["upstream"] == f"app.{vpc_id}"
    for name in ("net", "app", "edge"):
        assert state_resources(config.parent / name) == [f"null_resource.{name}"]
    # `tfo status` shows which worker ran each workspace.
    status = Tfo(tmp_path, cwd=tmp_path).run("status", run_id, "--temporal-address", address)
    assert status.code == 0, status
    lines = status.stdout.splitlines()
    for name, worker in (("net", "worker-a"), ("app", "worker-b"), ("edge", "worker-a")):
        assert any(line.startswith(f"{name}: succeeded") and line.endswith(f"(worker {worker})") for line in lines)
    # The run's files were cleaned up on both queues' workers.
    assert not (config.parent / ".tfo" / "runs" / run_id).exists()
    assert "serving" in logs[queue_a].read_text() and f"{queue_a} (terraform only)" in logs[queue_a].read_text()


async def test_queue_without_a_worker_waits_visibly_and_tfo_cancel_ends_the_run(
    temporal_env, terraform, tmp_path, task_queue
):
    lonely = f"{task_queue}-nobody"
    config = write_stack(
        tmp_path / "stack",
        [W("free"), W("stuck", task_queue=lonely), W("after", depends_on=["stuck"])],
        binary=terraform.binary,
        top={"task_queue": task_queue},
    )
    client = temporal_env.client
    address = client.service_client.config.target_host
    request = runs.build_request(
        load_config(config), mode="apply", workspaces=[], state_dir=config.parent / ".tfo", auto_approve=True
    )
    async with running_workers(client, task_queue):
        run_id = await runs.start_run(client, request)
        handle = client.get_workflow_handle(run_id, result_type=RunReport)
        live = await wait_for_status(handle, "stuck", WorkspaceStatus.WAITING)
        assert live.workspaces["stuck"].detail == f"waiting for a worker on queue {lonely}"
        # Other queues are not held up: `free` is planned while `stuck` waits.
        await wait_for_status(handle, "free", WorkspaceStatus.PLANNED)
        live = await handle.query("status", result_type=RunReport)
        assert live.workspaces["stuck"].status == WorkspaceStatus.WAITING
        assert live.workspaces["after"].status == WorkspaceStatus.PENDING

        cancel = await asyncio.to_thread(
            Tfo(tmp_path, cwd=tmp_path).run, "cancel", run_id, "--temporal-address", address
        )
        assert cancel.code == 0, cancel
        assert f"run {run_id}: cancelled" in cancel.stdout  # it waits until the run has ended
        report = await asyncio.wait_for(handle.result(), GIVE_UP)

    assert report.status == RunStatus.CANCELLED, report.public_json()
    assert report.workspaces["stuck"].status == WorkspaceStatus.CANCELLED
    assert report.workspaces["after"].status in (WorkspaceStatus.CANCELLED, WorkspaceStatus.SKIPPED)
    assert state_resources(config.parent / "stuck") == []
    assert state_resources(config.parent / "free") == []  # cancelled before its apply


async def test_no_worker_within_worker_timeout_fails_the_workspace(temporal_env, terraform, tmp_path, task_queue):
    lonely = f"{task_queue}-nobody"
    config = write_stack(
        tmp_path / "stack",
        [W("free"), W("stuck", task_queue=lonely), W("after", depends_on=["stuck"])],
        binary=terraform.binary,
        settings={"worker_timeout": "2s"},
        top={"task_queue": task_queue},
    )
    client = temporal_env.client
    request = runs.build_request(load_config(config), mode="plan", workspaces=[], state_dir=config.parent / ".tfo")
    async with running_workers(client, task_queue):
        run_id = await runs.start_run(client, request)
        handle = client.get_workflow_handle(run_id, result_type=RunReport)
        report = await asyncio.wait_for(handle.result(), GIVE_UP)

    assert report.status == RunStatus.FAILED
    stuck = report.workspaces["stuck"]
    assert stuck.status == WorkspaceStatus.FAILED
    assert stuck.error_type == ErrorType.NO_WORKER
    assert stuck.error == (
        f"no worker polled task queue {lonely!r} within 2s: start one with `tfo worker --task-queue {lonely}`"
    )
    assert report.workspaces["after"].status == WorkspaceStatus.SKIPPED
    assert report.workspaces["free"].status == WorkspaceStatus.SUCCEEDED


def test_original_schema_example_applies_unchanged_in_embedded_mode(terraform, tmp_path):
    example = tmp_path / "original-schema"
    shutil.copytree(
        EXAMPLE, example, ignore=shutil.ignore_patterns(".tfo", ".terraform", "*.tfstate*", ".terraform.lock.hcl")
    )
    assert (example / "infra.yaml").read_bytes() == (EXAMPLE / "infra.yaml").read_bytes()
    # The example names no binary, so tfo runs `terraform` from PATH: the pinned one.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "terraform").symlink_to(terraform.binary)
    tfo = Tfo(tmp_path, cwd=example)
    tfo.env["PATH"] = f"{bin_dir}{os.pathsep}{tfo.env.get('PATH', '')}"
    tfo.env["TF_CLI_CONFIG_FILE"] = str(terraform.cli_config)
    state_dir = example / ".tfo"
    try:
        first = tfo.run("apply", example / "infra.yaml", "--auto-approve", "--json", idle=state_dir)
        again = tfo.run("apply", example / "infra.yaml", "--auto-approve", idle=state_dir)
    finally:
        kill_dev_servers(state_dir)

    assert first.code == 0, first
    report = first.json()
    assert report["status"] == "succeeded"
    vpc, subnets, app = (report["workspaces"][n] for n in ("vpc", "subnets", "app"))
    assert vpc["status"] == subnets["status"] == app["status"] == "succeeded"
    assert vpc["outputs"]["vpc_id"].startswith("vpc-")
    subnet_ids = subnets["outputs"]["subnet_ids"]
    assert subnet_ids == [f"{vpc['outputs']['vpc_id']}-subnet-a", f"{vpc['outputs']['vpc_id']}-subnet-b"]
    # app is planned with the new outputs of the workspaces applied before it ...
    assert sorted(r["address"] for r in app["resources"]) == [f'null_resource.service["{s}"]' for s in subnet_ids]
    assert app["changes"]["create"] == 2
    # ... and never applied: its operations stop at plan.
    assert state_resources(example / "terraform" / "vpc") == ["null_resource.vpc"]
    assert len(state_resources(example / "terraform" / "subnets")) == 2
    assert state_resources(example / "terraform" / "app") == []

    # A second apply has nothing to apply; app still only plans.
    assert again.code == 0, again
    assert again.stdout.strip() == "apply succeeded; planned, not applied: app", again
    assert state_resources(example / "terraform" / "app") == []
