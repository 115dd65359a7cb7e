"""`tfo status RUN_ID`: a run's live or final status."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from tfo.config.errors import RunError
from tfo.config.payloads import RunStatus
from tfo.daemon import runs
from tfo.daemon.commands.run import emit, exit_code
from tfo.daemon.connection import ConnectionSettings
from tfo.daemon.progress import changes_text, describe
from tfo.daemon.run_control import control_run, has_workflow_worker, no_worker_message


def status(run_id: str, conn: ConnectionSettings, *, state_dir: Path | None, as_json: bool) -> int:
    async def main() -> runs.RunReport:
        # Embedded, a workflows-only worker answers the status query even when no other
        # tfo process runs the run (after Ctrl-C, say).
        async with control_run(conn, run_id, state_dir=state_dir) as ctl:
            ctl.serve()
            try:
                return await runs.report(ctl.client, run_id)
            except RunError:
                if conn.embedded or await has_workflow_worker(ctl.client, ctl.task_queue):
                    raise
            # A server and no worker: the run is open, but only a worker can tell its progress.
            print(f"tfo: run {run_id} is running; {no_worker_message(conn, ctl.task_queue)}", file=sys.stderr)
            return runs.RunReport(run_id=run_id, mode=runs.mode_of(run_id), status=RunStatus.RUNNING)

    report = asyncio.run(main())
    if as_json:
        report.write_public_json(sys.stdout)
    else:
        for name, ws in report.workspaces.items():
            worker = f" (worker {ws.worker})" if ws.worker else ""
            print(f"{name}: {describe(ws)} {changes_text(ws)}".rstrip() + worker)
        emit(report, as_json=False)
    return exit_code(report) if report.finished_at else 0
