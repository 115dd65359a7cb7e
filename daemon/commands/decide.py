"""`tfo approve RUN_ID` and `tfo reject RUN_ID`: release or stop an apply at its gate.

They work with no other tfo process alive (see daemon.run_control): in embedded mode
this process brings up the server and a worker for as long as it needs them.
"""

from __future__ import annotations

import asyncio
import getpass
import sys
import time
from pathlib import Path

from temporalio.client import Client

from tfo.config.errors import RunError
from tfo.config.payloads import RunStatus
from tfo.daemon import runs
from tfo.daemon.connection import ConnectionSettings
from tfo.daemon.plan_text import plan_text
from tfo.daemon.run_control import bounded_decide, control_run, has_workflow_worker

# How long `tfo approve` waits for the run's status, to show what it approves.
SHOW_WAIT = 10.0


def decide(run_id: str, conn: ConnectionSettings, *, approved: bool, reason: str, state_dir: Path | None) -> int:
    async def main() -> str:
        async with control_run(conn, run_id, state_dir=state_dir, finish=not approved) as ctl:
            if approved and (conn.embedded or await has_workflow_worker(ctl.client, ctl.task_queue)):
                ctl.serve()  # a worker answers the status query even if no other tfo process runs
                await _show_plan(ctl.client, run_id)
            outcome = await bounded_decide(ctl, conn, approved=approved, by=getpass.getuser(), reason=reason)
            if ctl.finishing:
                await ctl.wait_ended()  # its saved plans are removed and its result recorded
            elif approved and conn.embedded and ctl.session.started_server:
                outcome += f"; no tfo process is running it: `tfo resume {run_id}` applies it"
            return outcome

    print(f"run {run_id}: {asyncio.run(main())}")
    return 0


async def _show_plan(client: Client, run_id: str) -> None:
    """Print what is being approved, as the gate of `tfo apply` shows it."""
    deadline = time.monotonic() + SHOW_WAIT
    while True:
        try:
            report = await runs.report(client, run_id)
            break
        except RunError as exc:
            if time.monotonic() > deadline:  # the decision still goes through; say why no plan shows
                print(f"tfo: cannot show the plan of {run_id}: {exc}", file=sys.stderr)
                return
            await asyncio.sleep(0.2)  # this process's worker is still starting
    if report.status == RunStatus.AWAITING_APPROVAL:
        print(plan_text(report, color=sys.stderr.isatty()), file=sys.stderr)
