"""Workspace locks between concurrent runs, and the parallelism limit, measured on real terraform."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import yaml

from config.loader import load_config
from config.payloads import RunReport, RunStatus, WorkspaceStatus
from daemon import runs
from tests.conftest import running_workers
from tests.integration.engine import run_stack
from tests.stacks import WorkspaceTemplate as W
from tests.stacks import state_resources, write_stack

# A guard against hanging forever if something is broken; never a pass/fail criterion.
GIVE_UP = 180.0


async def watch(client, run_ids: list[str], seen: list[tuple[str, str, WorkspaceStatus, str | None]]) -> dict[str, RunReport]:  # type: ignore[no-untyped-def]
    """Poll the runs' status queries until all end, recording every (run, workspace, status, detail)."""
    handles = {r: client.get_workflow_handle(r, result_type=RunReport) for r in run_ids}
    results = {r: asyncio.ensure_future(h.result()) for r, h in handles.items()}
    deadline = time.monotonic() + GIVE_UP
    try:
        while not all(t.done() for t in results.values()):
            assert time.monotonic() < deadline, "runs did not finish"
            for run_id, handle in handles.items():
                if results[run_id].done():
                    continue
                live = await handle.query("status", result_type=RunReport)
                for name, ws in (live.workspaces if live else {}).items():
                    entry = (run_id, name, ws.status, ws.detail)
                    if not seen or seen[-1] != entry:
                        seen.append(entry)
            await asyncio.sleep(0.05)
        return {r: t.result() for r, t in results.items()}
    finally:
        for task in results.values():
            task.cancel()


async def test_concurrent_applies_on_overlapping_workspaces(temporal_env, terraform, tmp_path, task_queue):
    config = write_stack(
        tmp_path,
        [W("a", outputs={"id": '"a-1"'}), W("b", depends_on=["a"], sleep=3), W("c", depends_on=["a"])],
        binary=terraform.binary,
        top={"task_queue": task_queue},
    )
    client = temporal_env.client
    loaded = load_config(config)
    state_dir = tmp_path / ".tfo"

    def request(workspaces: list[str]):  # type: ignore[no-untyped-def]
        return runs.build_request(loaded, mode="apply", workspaces=workspaces, state_dir=state_dir, auto_approve=True)

    seen: list[tuple[str, str, WorkspaceStatus, str | None]] = []
    async with running_workers(client, task_queue):
        run1, run2 = await asyncio.gather(runs.start_run(client, request(["b"])), runs.start_run(client, request(["c"])))
        reports = await watch(client, [run1, run2], seen)

    for run_id, report in reports.items():
        print(run_id, report.public_json())
    for entry in seen:
        print(entry)
