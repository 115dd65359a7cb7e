"""Scale-out without Docker: one `tfo daemon` in client mode, two `tfo worker` processes.

The workspaces' terraform runs on a shared queue that both workers poll; the daemon
runs the workflows. One worker is killed with SIGKILL mid-run and the other one
finishes the run, creating every resource exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.stacks import WorkspaceTemplate as W
from tests.stacks import state_resources, write_stack
from tfo.config.loader import load_config
from tfo.config.payloads import RunReport, RunStatus
from tfo.daemon import runs
from tfo.daemon.embedded import free_port

TFO = str(Path(sys.executable).parent / "tfo")
GIVE_UP = 240.0  # a guard against hanging, never a pass/fail criterion


def _spawn(argv: list[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def _kill(proc: subprocess.Popen[bytes], sig: int = signal.SIGKILL) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=60)
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)


async def test_two_workers_share_a_run_and_one_survives_the_others_death(temporal_env, terraform, tmp_path, task_queue):
    shared = f"{task_queue}-work"
    counters = tmp_path / "counters"
    counters.mkdir()
    names = [f"ws{i:02d}" for i in range(12)]
    config = write_stack(
        tmp_path / "stack",
        [W(n, sleep=2, task_queue=shared, outputs={"id": f'"{n}"'}) for n in names],
        binary=terraform.binary,
        top={"task_queue": task_queue},
    )
    # Count real creations: every provisioner run appends a line.
    for name in names:
        main = tmp_path / "stack" / name / "main.tf"
        main.write_text(
            main.read_text().replace('command = "sleep 2"', f'command = "echo x >> {counters / name}; sleep 2"')
        )

    address = temporal_env.client.service_client.config.target_host
    common = ["--temporal-address", address, "--metrics-host", "127.0.0.1"]
    daemon = _spawn([TFO, "daemon", str(config), "--metrics-port", str(free_port()), *common], tmp_path / "daemon.log")
    workers = {
        ident: _spawn(
            [
                TFO,
                "worker",
                "--default-queue",
                task_queue,
                "--task-queue",
                shared,
                "--identity",
                ident,
                "--metrics-port",
                "0",
                *common,
            ],
            tmp_path / f"{ident}.log",
        )
        for ident in ("worker-1", "worker-2")
    }
    client = temporal_env.client
    try:
        request = runs.build_request(
            load_config(config),
            mode="apply",
            workspaces=[],
            state_dir=tmp_path / "stack" / ".tfo",
            parallelism=4,
            auto_approve=True,
        )
        run_id = await runs.start_run(client, request)
        handle = client.get_workflow_handle(run_id, result_type=RunReport)

        # Wait until worker-1 has finished at least one workspace and others are still running.
        deadline = time.monotonic() + GIVE_UP
        killed = False
        while time.monotonic() < deadline and not killed:
            live = await handle.query("status", result_type=RunReport)
            if live is not None:
                done_by_1 = [
                    n for n, ws in live.workspaces.items() if ws.worker == "worker-1" and ws.outcome == "applied"
                ]
                running = [n for n, ws in live.workspaces.items() if ws.status.value == "running"]
                if done_by_1 and running:
                    _kill(workers["worker-1"])
                    killed = True
            await asyncio.sleep(0.2)
        assert killed, "worker-1 never finished a workspace while others were running"

        report = await asyncio.wait_for(handle.result(), GIVE_UP)
        errors = {n: (ws.status.value, ws.error) for n, ws in report.workspaces.items() if ws.error}
        assert report.status == RunStatus.SUCCEEDED, errors
        by_worker = {ws.worker for ws in report.workspaces.values()}
        assert by_worker == {"worker-1", "worker-2"}, by_worker
        for name in names:
            assert state_resources(tmp_path / "stack" / name) == [f"null_resource.{name}"]
            assert (counters / name).read_text().count("x") == 1, f"{name} was created more than once"
    finally:
        for proc in (*workers.values(), daemon):
            _kill(proc, signal.SIGTERM)
