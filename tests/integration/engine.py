"""Helpers to run tfo's engine in-process against the session's dev server."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import running_workers
from tfo.config.loader import load_config
from tfo.config.payloads import Mode, RunReport
from tfo.daemon import runs
from tfo.daemon.live_report import assemble


async def run_stack(
    client,  # type: ignore[no-untyped-def]
    config: Path,
    *,
    mode: Mode = "plan",
    workspaces: list[str] | None = None,
    parallelism: int | None = None,
    auto_approve: bool = True,
    with_workers: bool = True,
) -> RunReport:
    """Start a run of `config` with in-process workers and wait for its report."""
    loaded = load_config(config)
    request = runs.build_request(
        loaded,
        mode=mode,
        workspaces=workspaces or [],
        state_dir=config.parent / ".tfo",
        parallelism=parallelism,
        auto_approve=auto_approve,
    )
    queues = sorted({ws.task_queue for ws in request.config.workspaces})
    if not with_workers:
        run_id = await runs.start_run(client, request)
        return await assemble(client, await client.get_workflow_handle(run_id, result_type=RunReport).result())
    async with running_workers(client, request.config.task_queue, queues):
        run_id = await runs.start_run(client, request)
        return await assemble(client, await client.get_workflow_handle(run_id, result_type=RunReport).result())
