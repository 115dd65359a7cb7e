"""`tfo cancel RUN_ID`: cancel a run; running terraform gets SIGINT, then a kill.

A cancel is only a request until a worker acts on it: this command makes sure one
does (see daemon.run_control) and waits, bounded, until the run has ended.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError

from tfo.config.errors import RunError
from tfo.daemon.connection import ConnectionSettings
from tfo.daemon.run_control import control_run, describe, has_workflow_worker, no_worker_message


def cancel(run_id: str, conn: ConnectionSettings, *, state_dir: Path | None) -> int:
    async def main() -> str:
        async with control_run(conn, run_id, state_dir=state_dir, finish=True) as ctl:
            if (await describe(ctl.client, run_id)).status != WorkflowExecutionStatus.RUNNING:
                raise RunError(f"run {run_id} has already ended")
            try:
                await ctl.client.get_workflow_handle(run_id).cancel()
            except RPCError as exc:
                raise RunError(f"cannot cancel run {run_id}: {exc.message}") from None
            # Only now: a worker started earlier could begin a pending terraform step first.
            ctl.serve()
            if not conn.embedded and not await has_workflow_worker(ctl.client, ctl.task_queue):
                raise RunError(f"run {run_id}: cancellation requested, but " + no_worker_message(conn, ctl.task_queue))
            if await ctl.wait_ended():
                return "cancelled"
            return f"cancellation requested; still ending (follow it with `tfo status {run_id}`)"

    print(f"run {run_id}: {asyncio.run(main())}")
    return 0
