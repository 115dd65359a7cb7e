"""`tfo cancel RUN_ID`: cancel a run; running terraform gets SIGINT, then a kill."""

from __future__ import annotations

import asyncio
from pathlib import Path

from temporalio.service import RPCError

from tfo.config.errors import RunError
from tfo.daemon.connection import ConnectionSettings
from tfo.daemon.session import session_for_run


def cancel(run_id: str, conn: ConnectionSettings, *, state_dir: Path | None) -> int:
    async def main() -> None:
        async with session_for_run(conn, run_id, state_dir=state_dir) as session:
            try:
                await session.client.get_workflow_handle(run_id).cancel()
            except RPCError as exc:
                raise RunError(f"cannot cancel run {run_id}: {exc.message}") from None

    asyncio.run(main())
    print(f"run {run_id}: cancellation requested")
    return 0
