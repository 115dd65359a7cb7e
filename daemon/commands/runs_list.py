"""`tfo runs`: recent runs on the server."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from tfo.config.loader import load_config
from tfo.daemon import runs
from tfo.daemon.connection import ConnectionSettings
from tfo.daemon.session import open_session


def list_runs(
    config_path: Path | None, conn: ConnectionSettings, *, state_dir: Path | None, limit: int, as_json: bool
) -> int:
    directory = state_dir or (runs.default_state_dir(config_path) if config_path else Path(".tfo").resolve())
    if config_path:
        load_config(config_path)

    async def main() -> list[dict[str, object]]:
        async with open_session(conn, state_dir=directory, default_queue="tfo", embedded_worker=False) as session:
            found: list[dict[str, object]] = []
            async for wf in session.client.list_workflows("WorkflowType = 'ParentWorkflow'", limit=limit):
                found.append(
                    {
                        "run_id": wf.id,
                        "status": wf.status.name.lower() if wf.status else "unknown",
                        "started": wf.start_time.isoformat(),
                        "closed": wf.close_time.isoformat() if wf.close_time else None,
                    }
                )
            return found

    found = asyncio.run(main())
    if as_json:
        print(json.dumps({"runs": found}))
    else:
        for item in found:
            print(f"{item['run_id']}  {item['status']:10}  {item['started']}")
    return 0
