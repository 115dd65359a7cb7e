"""`tfo drift CONFIG`: the latest drift report of each workspace, or its history.

It reads only the drift ledger in Temporal: no workspace dir is touched, so a
missing dir never hides the rest of the report.
"""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

from tfo.config.drift_models import DriftReport, HistoryReport, WorkspaceDrift
from tfo.config.errors import ConfigError
from tfo.config.loader import load_config
from tfo.daemon import runs
from tfo.daemon.connection import ConnectionSettings
from tfo.daemon.drift import fetch_history, fetch_report
from tfo.daemon.session import open_session


def age(checked_at: str, now: datetime | None = None) -> str:
    seconds = int(((now or datetime.now(UTC)) - datetime.fromisoformat(checked_at)).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{max(seconds, 0)}s"


def drift(
    config_path: Path,
    conn: ConnectionSettings,
    *,
    state_dir: Path | None,
    as_json: bool,
    history: bool = False,
    workspaces: list[str] | None = None,
) -> int:
    loaded = load_config(config_path, check_files=False)
    unknown = sorted(set(workspaces or []) - {ws.name for ws in loaded.config.workspaces})
    if unknown:
        raise ConfigError(f"unknown workspace {unknown[0]!r}", path=str(config_path))
    directory = runs.default_state_dir(config_path, state_dir)

    async def main() -> DriftReport | HistoryReport | None:
        queue = loaded.config.task_queue
        fetch = fetch_history if history else fetch_report
        async with open_session(conn, state_dir=directory, default_queue=queue, embedded_worker=False) as session:
            if not conn.embedded:  # the deployment's workers answer the query
                return await fetch(session.client, loaded.id)
            # Embedded: a daemon may share this server, or none may run; a query needs a worker.
            from tfo.daemon.worker import query_worker

            async with query_worker(session.client, queue):
                return await fetch(session.client, loaded.id)

    answer = asyncio.run(main())
    if history:
        hist = answer if isinstance(answer, HistoryReport) else HistoryReport(config=loaded.name)
        return _print_history(hist, workspaces, as_json=as_json)
    report = answer if isinstance(answer, DriftReport) else DriftReport(config=loaded.name)
    if report.lost_note:
        print(f"tfo: warning: {report.lost_note}", file=sys.stderr)
    if workspaces:
        report.workspaces = {n: ws for n, ws in report.workspaces.items() if n in workspaces}
    if as_json:
        print(json.dumps(report_json(report)))
        return 0
    if not report.workspaces:
        print(f"{loaded.name}: no drift check has run yet")
        return 0
    for name, ws in sorted(report.workspaces.items()):
        print(_line(name, ws))
    return 0


def _line(name: str, ws: WorkspaceDrift) -> str:
    c = ws.changes
    since = f"since {age(ws.since)}" if ws.since else ""
    counts = f"+{c.create} ~{c.update} -{c.delete} ±{c.replace}"
    line = f"{name:24} {ws.status.value:8} {age(ws.checked_at):>5} ago {since:>11}  {counts}"
    if ws.causes:
        line += f"  ({', '.join(cause.replace('_', ' ') for cause in ws.causes)})"
    if ws.reason:
        line += f"  {ws.reason}"
    if ws.at_risk:
        line += f"  at risk from {', '.join(ws.at_risk_from)}"
    if ws.checks:
        line += f"  checks failing: {', '.join(check.address for check in ws.checks)}"
    if ws.ignored:
        line += f"  {len(ws.ignored)} ignored"
    if ws.error:
        line += f"  {ws.error}"
    if ws.commit:
        line += f"  at commit {ws.commit[:7]}"
    if ws.proposal:
        line += f"  fix proposed: {ws.proposal}"
    return line


def _print_history(hist: HistoryReport, workspaces: list[str] | None, *, as_json: bool) -> int:
    selected = {n: items for n, items in sorted(hist.workspaces.items()) if not workspaces or n in workspaces}
    if as_json:
        doc = {"config": hist.config, "workspaces": {n: [t.public_json() for t in v] for n, v in selected.items()}}
        print(json.dumps(doc))
        return 0
    if not selected:
        print(f"{hist.config}: no transitions recorded yet")
        return 0
    for name, items in selected.items():
        for t in items:
            before = t.from_status.value if t.from_status else "-"
            causes = f"  ({', '.join(t.causes)})" if t.causes else ""
            print(f"{t.at}  {name:24} {before:>8} -> {t.to_status.value:8} {t.run_id}{causes}")
    return 0


def report_json(report: DriftReport) -> dict[str, object]:
    now = datetime.now(UTC)
    return {
        "config": report.config,
        "workspaces": {name: _workspace_json(ws, now) for name, ws in sorted(report.workspaces.items())},
        "alerts_pending": report.alerts_pending,
        "alerts_sent": report.alerts_sent,
        "lost_note": report.lost_note,
    }


def _workspace_json(ws: WorkspaceDrift, now: datetime) -> dict[str, object]:
    return {
        "status": ws.status.value,
        "cause": ws.cause,
        "causes": ws.causes,
        "reason": ws.reason,
        "since": ws.since,
        "checked_at": ws.checked_at,
        "age_seconds": int((now - datetime.fromisoformat(ws.checked_at)).total_seconds()),
        "changes": ws.changes.model_dump(),
        "resources": [r.public_json() for r in ws.resources],
        "drift": [r.public_json() for r in ws.drift],
        "output_changes": ws.output_changes,
        "at_risk": ws.at_risk,
        "at_risk_from": ws.at_risk_from,
        "checks": [c.model_dump() for c in ws.checks],
        "ignored": [i.model_dump() for i in ws.ignored],
        "diff_truncated": ws.diff_truncated,
        "error": ws.error,
        "run_id": ws.run_id,
        "terraform_version": ws.terraform_version,
        "commit": ws.commit,
        "proposal": ws.proposal,
    }
