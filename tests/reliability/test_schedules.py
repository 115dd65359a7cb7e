"""Drift schedules: a check longer than the interval never overlaps the next one, and
after downtime at most one missed check is caught up.

`tfo daemon` runs as a subprocess in embedded mode; terraform's plan is slowed by a shim
so that each check lasts longer than the schedule's interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from tests.integration.cli_helpers import Tfo, dev_servers
from tests.integration.drift_helpers import running_daemon
from tests.reliability.figures import record_figure
from tests.reliability.processes import kill_all, max_overlap, processes_mentioning, wait_for, write_shim
from tests.stacks import WorkspaceTemplate as W
from tests.stacks import write_stack

NAME = "sched"
SCHEDULE = f"tfo-sched:{NAME}:drift"
PREFIX = f"tfo-plan-{NAME}-drift-"


def _query(state: Path, body: Any) -> Any:
    """Run `body(client)` against the state dir's embedded server, with tfo's own client."""
    import json

    from tfo.daemon.connection import ConnectionSettings, connect

    info = json.loads((state / "server" / "server.json").read_text())

    async def main() -> Any:
        client = await connect(ConnectionSettings(), address=f"127.0.0.1:{info['port']}")
        return await body(client)

    return asyncio.run(main())


def checks(state: Path) -> list[tuple[datetime, datetime | None]]:
    """(start, close) of every scheduled check, by start time."""

    async def body(client: Any) -> list[tuple[datetime, datetime | None]]:
        found = [
            (wf.start_time, wf.close_time)
            async for wf in client.list_workflows("WorkflowType = 'ParentWorkflow'")
            if wf.id.startswith(PREFIX)
        ]
        return sorted(found, key=lambda c: c[0])

    result: list[tuple[datetime, datetime | None]] = _query(state, body)
    return result


def schedule_info(state: Path) -> Any:
    async def body(client: Any) -> Any:
        return (await client.get_schedule_handle(SCHEDULE).describe()).info

    return _query(state, body)


def test_long_checks_never_overlap_and_downtime_catches_up_once(tfo: Tfo, terraform, tmp_path: Path):
    root = tmp_path.resolve()
    calls = root / "terraform-calls.log"
    # Each check plans for ~4 s; the schedule fires every 1 s.
    shim = write_shim(root / "terraform-shim", terraform.binary, calls, plan_delay=4)
    config = write_stack(
        root / "stack",
        [W("solo")],
        binary=shim,
        top={"name": NAME, "id": NAME, "schedules": [{"name": "drift", "every": "1s"}]},
    )
    state = root / "stack" / ".tfo"
    try:
        with running_daemon(config, root, logs=root / "daemon-1") as daemon:
            wait_for("three checks to finish", lambda: sum(1 for _, c in checks(state) if c) >= 3, every=0.5)
            seen = checks(state)
            info = schedule_info(state)
            code = daemon.terminate()
            assert code == 0, daemon.stderr()
        stopped_at = time.time()
        assert dev_servers(state) == []
        finished = [c for c in seen if c[1] is not None]
        running = [c for c in seen if c[1] is None]
        assert len(running) <= 1, seen
        for (_, end), (start, _) in zip(finished, finished[1:] + running, strict=False):
            assert end is not None and end <= start, seen  # the next check started after the last one ended
        assert info.num_actions_skipped_overlap > 0, info
        assert max_overlap(calls) == 1
        record_figure(
            "schedule every 1s, checks of ~4s: firings skipped as overlapping", info.num_actions_skipped_overlap
        )

        # Down for many intervals (the embedded server too), then up again.
        time.sleep(8)
        with running_daemon(config, root, logs=root / "daemon-2") as daemon:
            restarted_at = time.time()
            daemon.signal(signal.SIGSTOP)  # freeze the worker: nothing new finishes while we look
            try:
                time.sleep(3)
                info = schedule_info(state)
            finally:
                daemon.signal(signal.SIGCONT)
            caught_up = [a for a in info.recent_actions if stopped_at <= a.scheduled_at.timestamp() < restarted_at]
            after = [c for c in checks(state) if c[0].timestamp() >= stopped_at]
            assert len(caught_up) <= 1, info.recent_actions
            assert len(after) <= 1, after  # frozen worker: whatever started since is still running
            record_figure("embedded: schedule every 1s after 8 s of downtime: missed checks caught up", len(caught_up))
            code = daemon.terminate()
            assert code == 0, daemon.stderr()
    finally:
        kill_all(processes_mentioning(str(root / "stack")))


async def test_checks_missed_while_the_daemon_is_down_run_once(temporal_env, terraform, tmp_path: Path, task_queue):
    """Against a server that stays up: the schedule keeps firing while no worker runs."""
    from tests.integration.cli_helpers import cli_env
    from tests.integration.drift_helpers import DEADLINE, free_port, http_status
    from tests.reliability.processes import TFO, started

    name = f"sched-{task_queue}"
    prefix = f"tfo-plan-{name}-drift-"
    config = write_stack(
        tmp_path / "stack",
        [W("solo")],
        binary=terraform.binary,
        top={"name": name, "id": name, "task_queue": task_queue, "schedules": [{"name": "drift", "every": "2s"}]},
    )
    client = temporal_env.client
    address = client.service_client.config.target_host

    def daemon(log: str) -> subprocess.Popen[bytes]:
        port = free_port()
        with (tmp_path / log).open("wb") as out:
            proc = subprocess.Popen(
                [
                    TFO,
                    "daemon",
                    str(config),
                    "--temporal-address",
                    address,
                    "--metrics-port",
                    str(port),
                    "--metrics-host",
                    "127.0.0.1",
                ],
                env=cli_env(tmp_path),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        wait_for(
            "the daemon's /readyz",
            lambda: proc.poll() is not None or http_status(port, "/readyz") == 200,
            timeout=DEADLINE,
        )
        assert proc.poll() is None, (tmp_path / log).read_text()
        return proc

    async def runs() -> dict[str, tuple[datetime, str]]:
        return {
            wf.id: (wf.start_time, wf.status.name)
            async for wf in client.list_workflows("WorkflowType = 'ParentWorkflow'")
            if wf.id.startswith(prefix)
        }

    async def wait(what: str, probe: Any) -> Any:
        deadline = time.monotonic() + DEADLINE
        while not (found := await probe()):
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            await asyncio.sleep(0.25)
        return found

    schedule = client.get_schedule_handle(f"tfo-sched:{name}:drift")
    try:
        with started(daemon("daemon-1.log")) as procs:
            await wait("a completed check", lambda: _completed(runs))
            procs[0].send_signal(signal.SIGTERM)
            assert await asyncio.to_thread(procs[0].wait, DEADLINE) == 0
            stopped_at = time.time()
            await asyncio.sleep(8)  # four firings while no worker runs
            seen = await runs()
            down = {k: v for k, v in seen.items() if v[0].timestamp() >= stopped_at}
            waiting = {k: v for k, v in seen.items() if v[1] == "RUNNING"}
            procs.append(daemon("daemon-2.log"))
            await wait("the waiting check to finish", lambda: _all_completed(runs, waiting))
            info = (await schedule.describe()).info
    finally:
        with contextlib.suppress(Exception):
            await schedule.delete()
    # Exactly one check waited for a worker: one the stop interrupted, or else the first
    # firing of the downtime; every other firing was skipped as overlapping it.
    assert len(waiting) == 1, seen
    assert len(down) <= 1 and set(down) <= set(waiting), seen
    assert info.num_actions_skipped_overlap >= 2, info
    record_figure("server up, daemon down 8 s, schedule every 2s: checks waiting at restart", len(waiting))


async def _completed(runs: Any) -> bool:
    return any(status == "COMPLETED" for _, status in (await runs()).values())


async def _all_completed(runs: Any, ids: dict[str, Any]) -> bool:
    now = await runs()
    return all(now[k][1] == "COMPLETED" for k in ids)
