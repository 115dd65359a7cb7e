"""`tfo approve RUN_ID` and `tfo reject RUN_ID`: release or stop an apply at its gate."""

from __future__ import annotations

import asyncio
import getpass
from pathlib import Path

from tfo.daemon import runs
from tfo.daemon.connection import ConnectionSettings
from tfo.daemon.session import session_for_run


def decide(run_id: str, conn: ConnectionSettings, *, approved: bool, reason: str, state_dir: Path | None) -> int:
    async def main() -> str:
        async with session_for_run(conn, run_id, state_dir=state_dir) as session:
            return await runs.decide(session.client, run_id, approved=approved, by=getpass.getuser(), reason=reason)

    print(f"run {run_id}: {asyncio.run(main())}")
    return 0
