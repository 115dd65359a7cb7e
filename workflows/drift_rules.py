"""Pure rules of drift tracking: classify a run's results and decide which alerts to send.

Alerts fire on transitions only (new drift, a different drift, resolved, a failed
check), so the ledger never cries wolf and never forgets.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from tfo.config.drift_config import AlertEvent, AlertsConfig
from tfo.config.drift_models import AlertRequest, DriftStatus, Histogram, LedgerState, RecordRun, WorkspaceDrift
from tfo.config.payloads import WorkspaceReport, WorkspaceStatus

MAX_LISTED = 20
# How often the ledger looks for drift that is due a reminder.
REMIND_CHECK = timedelta(minutes=1)
_TITLES = {
    AlertEvent.DRIFT: "Drift detected",
    AlertEvent.CHANGED: "Drift changed",
    AlertEvent.RESOLVED: "Drift resolved",
    AlertEvent.FAILURE: "Drift check failed",
}


def classify(ws: WorkspaceReport, *, mode: str, run_id: str, now: str) -> WorkspaceDrift | None:
    """A workspace's drift result from a run, or None if the run did not check it."""
    if ws.status == WorkspaceStatus.FAILED:
        if mode != "plan":
            return None  # a failed apply is not a drift check
        return WorkspaceDrift(status=DriftStatus.ERRORED, error=ws.error, checked_at=now, run_id=run_id)
    if ws.status != WorkspaceStatus.SUCCEEDED or ws.outcome is None:
        return None
    drifted = ws.outcome == "changes"
    return WorkspaceDrift(
        status=DriftStatus.DRIFTED if drifted else DriftStatus.CLEAN,
        cause=_cause(ws) if drifted else None,
        changes=ws.changes
        if drifted
        else ws.changes.model_copy(update={"create": 0, "update": 0, "delete": 0, "replace": 0}),
        resources=ws.resources if drifted else [],
        drift=ws.drift if drifted else [],
        output_changes=ws.output_changes if drifted else [],
        checked_at=now,
        run_id=run_id,
    )


def _predates_apply(started_at: str | None, applied_at: str | None) -> bool:
    if not started_at or not applied_at:
        return False
    return datetime.fromisoformat(started_at) < datetime.fromisoformat(applied_at)


def _cause(ws: WorkspaceReport) -> str:
    if ws.drift:
        return "out_of_band"
    if ws.changes.total() == 0:
        return "outputs_only"
    if ws.terraform_version and not ws.terraform_version.startswith(("0.", "1.0.")):
        return "config"
    return "unknown"


def record_run(
    state: LedgerState, rec: RecordRun, now: str, *, applied_at: dict[str, str] | None = None
) -> list[AlertRequest]:
    """Fold one run into the ledger state; return the alerts its transitions call for.

    Args:
        applied_at: Workspace -> when the latest recorded run that applied it finished.
            Runs are recorded in the order they finish, not the order they looked at a
            workspace: a check that started before an apply finished may have planned
            against the state from before the apply, and would report the drift that
            the apply just resolved. Such results are dropped (the next check counts),
            and this run's applies are added. None: no such filtering.
    """
    state.records += 1
    # Every run carries its config's alerts: None means the config no longer has any.
    state.alerts = rec.alerts
    report = rec.report
    if report.started_at and report.finished_at:
        seconds = (
            datetime.fromisoformat(report.finished_at) - datetime.fromisoformat(report.started_at)
        ).total_seconds()
        state.run_durations.setdefault(report.mode, Histogram()).observe(seconds)
    results: dict[str, WorkspaceDrift] = {}
    for name, ws in sorted(report.workspaces.items()):
        result = classify(ws, mode=report.mode, run_id=report.run_id, now=now)
        if result is not None and not _predates_apply(report.started_at, (applied_at or {}).get(name)):
            results[name] = result
    if applied_at is not None and report.finished_at:
        for name, ws in report.workspaces.items():
            if ws.outcome == "applied":
                applied_at[name] = report.finished_at
    merged = {**state.workspaces, **results}
    for name, result in results.items():
        risky = [
            f"{src}.{out}"
            for src, out in rec.consumes.get(name, [])
            if merged.get(src) is not None
            and merged[src].status == DriftStatus.DRIFTED
            and out in merged[src].output_changes
        ]
        result.at_risk, result.at_risk_from = bool(risky), sorted(risky)
    alerts: list[AlertRequest] = []
    for name, result in results.items():
        previous = state.workspaces.get(name)
        if result.status == DriftStatus.ERRORED and previous is not None:
            if previous.status == DriftStatus.ERRORED:
                result.settled_status, result.settled_fingerprint = (
                    previous.settled_status,
                    previous.settled_fingerprint,
                )
            else:
                result.settled_status, result.settled_fingerprint = previous.status, previous.fingerprint()
        event = transition(previous, result)
        counts = state.checks_total.setdefault(name, {})
        counts[result.status.value] = counts.get(result.status.value, 0) + 1
        if event is not None:
            alert = make_alert(state, rec, name, result, event)
            if alert is not None:
                alerts.append(alert)
                result.last_alert_at = now
        elif previous is not None:
            result.last_alert_at = previous.last_alert_at
        state.workspaces[name] = result
    return alerts


def transition(previous: WorkspaceDrift | None, current: WorkspaceDrift) -> AlertEvent | None:
    before = previous.status if previous else None
    if current.status == DriftStatus.ERRORED:
        return AlertEvent.FAILURE if before != DriftStatus.ERRORED else None
    # Drift is compared with the last check that did not error: a failed check in between
    # neither hides a resolution nor makes known drift new again.
    if previous is not None and before == DriftStatus.ERRORED:
        before, fingerprint = previous.settled_status, previous.settled_fingerprint
    else:
        fingerprint = previous.fingerprint() if previous else ""
    if current.status == DriftStatus.DRIFTED:
        if before != DriftStatus.DRIFTED:
            return AlertEvent.DRIFT
        return AlertEvent.CHANGED if fingerprint != current.fingerprint() else None
    return AlertEvent.RESOLVED if before == DriftStatus.DRIFTED else None


def make_alert(
    state: LedgerState,
    rec: RecordRun | None,
    name: str,
    ws: WorkspaceDrift,
    event: AlertEvent,
    *,
    reminder: bool = False,
) -> AlertRequest | None:
    alerts: AlertsConfig | None = state.alerts
    if alerts is None or event not in alerts.on:
        return None
    title = f"{'Drift still present' if reminder else _TITLES[event]}: {state.config}/{name}"
    lines: list[str] = []
    if ws.status == DriftStatus.DRIFTED:
        c = ws.changes
        lines.append(f"{c.create} to create, {c.update} to update, {c.delete} to delete, {c.replace} to replace")
        if ws.cause:
            lines.append(f"cause: {ws.cause.replace('_', ' ')}")
        lines += [f"  {r.action} {r.address}" for r in ws.resources[:MAX_LISTED]]
        if len(ws.resources) > MAX_LISTED:
            lines.append(f"  ... and {len(ws.resources) - MAX_LISTED} more")
        lines += [f"  changed outside terraform: {r.address}" for r in ws.drift[:MAX_LISTED]]
        if ws.output_changes:
            lines.append(f"outputs changing: {', '.join(ws.output_changes)}")
        if ws.at_risk:
            lines.append(f"inputs from drifted outputs: {', '.join(ws.at_risk_from)}")
    elif ws.status == DriftStatus.ERRORED:
        lines.append(f"error: {ws.error}")
    else:
        lines.append("no changes remain")
    lines.append(f"run: {ws.run_id}")
    ui_url = rec.ui_url if rec else None
    namespace = rec.namespace if rec else "default"
    if ui_url:
        lines.append(f"{ui_url.rstrip('/')}/namespaces/{namespace}/workflows/{ws.run_id}")
    return AlertRequest(urls=alerts.urls, event=event, title=title, body="\n".join(lines), workspace=name)


def due_reminders(state: LedgerState, now: datetime) -> list[tuple[str, WorkspaceDrift]]:
    alerts = state.alerts
    if alerts is None or alerts.remind_every is None:
        return []
    due = []
    for name, ws in sorted(state.workspaces.items()):
        if ws.status != DriftStatus.DRIFTED or ws.last_alert_at is None:
            continue
        if now - datetime.fromisoformat(ws.last_alert_at) >= alerts.remind_every:
            due.append((name, ws))
    return due
