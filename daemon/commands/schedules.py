"""`tfo schedules list|sync|trigger|pause|unpause`: the drift schedules of a config."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from tfo.config.loader import load_config
from tfo.daemon import runs
from tfo.daemon.connection import ConnectionSettings
from tfo.daemon.schedule_owner import find_owned, schedule_id
from tfo.daemon.schedules import control, reconcile_schedules
from tfo.daemon.session import open_session


def schedules(
    action: str, config_path: Path, conn: ConnectionSettings, *, name: str | None, state_dir: Path | None, as_json: bool
) -> int:
    loaded = load_config(config_path)
    directory = runs.default_state_dir(config_path, state_dir)

    async def main() -> dict[str, object]:
        async with open_session(
            conn,
            state_dir=directory,
            default_queue=loaded.config.task_queue,
            activity_queues=loaded.task_queues(),
            embedded_worker=action == "trigger",
        ) as session:
            client = session.client
            if action == "sync":
                result = await reconcile_schedules(
                    client, loaded, state_dir=directory, ui_url=session.server.ui_url if session.server else None
                )
                return {"created": result.created, "updated": result.updated, "deleted": result.deleted}
            if action == "list":
                existing = (await find_owned(client, loaded)).current
                rows = []
                for s in loaded.config.schedules:
                    sid = schedule_id(loaded.id, s.name)
                    row: dict[str, object] = {"name": s.name, "id": sid, "synced": sid in existing}
                    if sid in existing:
                        desc = await client.get_schedule_handle(sid).describe()
                        row["paused"] = desc.schedule.state.paused
                        row["next"] = [t.isoformat() for t in desc.info.next_action_times[:1]]
                        row["recent"] = [a.action.workflow_id for a in desc.info.recent_actions[-3:]]  # type: ignore[attr-defined]
                    rows.append(row)
                return {"schedules": rows}
            assert name is not None
            await control(client, loaded, name, action)
            return {"schedule": name, "action": action}

    result = asyncio.run(main())
    if as_json:
        print(json.dumps(result))
    elif action == "list":
        for row in result["schedules"]:  # type: ignore[attr-defined]
            state = "paused" if row.get("paused") else ("active" if row["synced"] else "not synced")
            nxt = (row.get("next") or ["-"])[0]
            print(f"{row['name']:20} {state:10} next: {nxt}")
    else:
        print(json.dumps(result))
    return 0
