"""`tfo resume RUN_ID`: run workers for an interrupted run and follow it to its end."""

from __future__ import annotations

from pathlib import Path

from tfo.daemon.commands.run import emit, exit_code, watch
from tfo.daemon.connection import ConnectionSettings
from tfo.daemon.interrupt import Interrupted, run_until_signal
from tfo.daemon.run_control import allow_run_config, describe
from tfo.daemon.session import session_for_run


def resume(run_id: str, conn: ConnectionSettings, *, state_dir: Path | None, as_json: bool) -> int:
    async def main():
        async with session_for_run(conn, run_id, state_dir=state_dir, with_worker=True) as session:
            # Its workers may run the binaries of the run's own config file, as `tfo apply` would.
            await allow_run_config(await describe(session.client, run_id))
            return await watch(session.client, run_id, as_json=as_json)

    try:
        report = run_until_signal(main())
    except Interrupted as exc:
        exc.run_id = run_id
        raise
    emit(report, as_json=as_json)
    return exit_code(report)
