"""`tfo drift CONFIG`: the latest drift report of each workspace."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

from tfo.config.drift_models import DriftReport
from tfo.config.loader import load_config
from tfo.daemon import runs
from tfo.daemon.connection import ConnectionSettings
from tfo.daemon.drift import fetch_report
from tfo.daemon.session import open_session


def age(checked_at: str, now: datetime | None = None) -> str:
    seconds = int(((now or datetime.now(UTC)) - datetime.fromisoformat(checked_at)).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{max(seconds, 0)}s"


def drift(config_path: Path, conn: ConnectionSettings, *, state_dir: Path | None, as_json: bool) -> int:
    loaded = load_config(config_path)
    directory = runs.default_state_dir(config_path, state_dir)

    async def main() -> DriftReport | None:
        queue = loaded.config.task_queue
        async with open_session(conn, state_dir=directory, default_queue=queue, embedded_worker=False) as session:
            if not conn.embedded:  # the deployment's workers answer the query
                return await fetch_report(session.client, loaded.name)
            # Embedded: a daemon may share this server, or none may run; a query needs a worker.
            from tfo.daemon.worker import query_worker

            async with query_worker(session.client, queue):
                return await fetch_report(session.client, loaded.name)

    report = asyncio.run(main()) or DriftReport(config=loaded.name)
    if as_json:
        print(json.dumps(report_json(report)))
        return 0
    if not report.workspaces:
        print(f"{loaded.name}: no drift check has run yet")
        return 0
    for name, ws in sorted(report.workspaces.items()):
        c = ws.changes
        counts = f"+{c.create} ~{c.update} -{c.delete} ±{c.replace}"
        line = f"{name:24} {ws.status.value:8} {age(ws.checked_at):>5} ago  {counts}"
        if ws.cause:
            line += f"  ({ws.cause.replace('_', ' ')})"
        if ws.at_risk:
            line += f"  at risk from {', '.join(ws.at_risk_from)}"
        if ws.error:
            line += f"  {ws.error}"
        print(line)
    return 0


def report_json(report: DriftReport) -> dict[str, object]:
    now = datetime.now(UTC)
    return {
        "config": report.config,
        "workspaces": {
            name: {
                "status": ws.status.value,
                "cause": ws.cause,
                "checked_at": ws.checked_at,
                "age_seconds": int((now - datetime.fromisoformat(ws.checked_at)).total_seconds()),
                "changes": ws.changes.model_dump(),
                "resources": [r.model_dump() for r in ws.resources],
                "drift": [r.model_dump() for r in ws.drift],
                "output_changes": ws.output_changes,
                "at_risk": ws.at_risk,
                "at_risk_from": ws.at_risk_from,
                "error": ws.error,
                "run_id": ws.run_id,
            }
            for name, ws in sorted(report.workspaces.items())
        },
        "alerts_pending": report.alerts_pending,
        "alerts_sent": report.alerts_sent,
    }
