"""`tfo resume RUN_ID`: run workers for an interrupted run and follow it to its end."""

from __future__ import annotations

import sys
from pathlib import Path

from tfo.daemon.commands.run import emit, exit_code, watch
from tfo.daemon.connection import ConnectionSettings
from tfo.daemon.followers import FollowerLock, follower_pid
from tfo.daemon.interrupt import Interrupted, run_until_signal
from tfo.daemon.run_control import allow_run_config, describe
from tfo.daemon.runs import run_location
from tfo.daemon.session import session_for_run


def resume(run_id: str, conn: ConnectionSettings, *, state_dir: Path | None, as_json: bool) -> int:
    async def main():
        async with session_for_run(conn, run_id, state_dir=state_dir, with_worker=True) as session:
            # Its workers may run the binaries of the run's own config file, as `tfo apply` would.
            await allow_run_config(await describe(session.client, run_id))
            follower = _follow(run_id, state_dir)
            try:
                report = await watch(session.client, run_id, as_json=as_json)
            except BaseException:
                if follower:
                    follower.release()
                raise
            if follower:
                follower.release(ended=True)
            return report

    try:
        report = run_until_signal(main())
    except Interrupted as exc:
        exc.run_id = run_id
        raise
    emit(report, as_json=as_json)
    return exit_code(report)


def _follow(run_id: str, state_dir: Path | None) -> FollowerLock | None:
    """Mark this process as the run's follower, so `tfo apply` never adopts it meanwhile."""
    where = run_location(run_id) or {}
    directory = state_dir or (Path(str(where["state_dir"])) if "state_dir" in where else None)
    if directory is None:
        return None
    follower = FollowerLock.take(directory, run_id)
    if follower is None:
        pid = follower_pid(directory, run_id)
        print(f"tfo: another tfo process{f' (pid {pid})' if pid else ''} follows run {run_id} too", file=sys.stderr)
    return follower
