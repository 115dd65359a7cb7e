"""`tfo approve RUN_ID` and `tfo reject RUN_ID`: release or stop an apply at its gate.

They work with no other tfo process alive (see daemon.run_control): in embedded mode
this process brings up the server and a worker for as long as it needs them.
"""

from __future__ import annotations

import asyncio
import getpass
from pathlib import Path

from tfo.daemon.connection import ConnectionSettings
from tfo.daemon.run_control import bounded_decide, control_run


def decide(run_id: str, conn: ConnectionSettings, *, approved: bool, reason: str, state_dir: Path | None) -> int:
    async def main() -> str:
        async with control_run(conn, run_id, state_dir=state_dir, finish=not approved) as ctl:
            outcome = await bounded_decide(ctl, conn, approved=approved, by=getpass.getuser(), reason=reason)
            if ctl.finishing:
                await ctl.wait_ended()  # its saved plans are removed and its result recorded
            elif approved and conn.embedded and ctl.session.started_server:
                outcome += f"; no tfo process is running it: `tfo resume {run_id}` applies it"
            return outcome

    print(f"run {run_id}: {asyncio.run(main())}")
    return 0
