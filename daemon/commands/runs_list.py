"""`tfo runs`: recent runs on the server, with tfo's status."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

from tfo.config.errors import RunError
from tfo.config.loader import load_config
from tfo.daemon.connection import ConnectionSettings
from tfo.daemon.scope import default_state_dir
from tfo.daemon.session import open_session

DEFAULT_CONFIG = Path("infra.yaml")


def list_runs(
    config_path: Path | None, conn: ConnectionSettings, *, state_dir: Path | None, limit: int, as_json: bool
) -> int:
    directory = _state_dir(config_path, conn, state_dir)
    if config_path:
        load_config(config_path)

    async def main() -> list[dict[str, object]]:
        from tfo.daemon.run_list import recent_runs

        async with open_session(conn, state_dir=directory, default_queue="tfo", embedded_worker=False) as session:
            return [entry.public_json() for entry in await recent_runs(session.client, limit=limit)]

    found = asyncio.run(main())
    if as_json:
        print(json.dumps({"runs": found}))
    elif not found:
        print("no runs yet")
    else:
        for item in found:
            print(f"{item['run_id']}  {item['status']:17}  {item['started']}")
    return 0


def _state_dir(config_path: Path | None, conn: ConnectionSettings, explicit: Path | None) -> Path:
    """The state dir whose embedded server holds the runs.

    Raises:
        RunError: embedded mode, and nothing says which state dir: starting a server in
            an empty `.tfo` here would only list nothing.
    """
    if config_path:
        return default_state_dir(config_path, explicit)
    if explicit or os.environ.get("TFO_STATE_DIR") or DEFAULT_CONFIG.is_file():
        return default_state_dir(DEFAULT_CONFIG, explicit)
    if conn.embedded:
        raise RunError(
            "tfo runs needs to know whose runs to list: pass CONFIG (an infra.yaml), run it where "
            "infra.yaml is, or pass --state-dir or --temporal-address"
        )
    return default_state_dir(DEFAULT_CONFIG)  # unused: a server holds the runs
