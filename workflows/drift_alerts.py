"""The text of drift alerts: a title per event and a bounded body with the diff (pure).

Bodies list, per resource, up to MAX_ATTRIBUTES changed attributes with
before -> after, already masked by the plan diff (sensitive values never reach
here). The whole body stays under MAX_BODY_CHARS, well within what chat services
accept; the rest is left to `tfo show RUN` and `tfo drift`.
"""

from __future__ import annotations

from tfo.config.drift_config import AlertEvent, AlertsConfig
from tfo.config.drift_models import AlertRequest, DriftStatus, LedgerState, RecordRun, WorkspaceDrift
from tfo.config.payloads import ResourceChange
from tfo.config.plan_models import ACTION_SYMBOLS, shown_value

MAX_LISTED = 20
MAX_ATTRIBUTES = 10
MAX_BODY_CHARS = 3500
_TITLES = {
    AlertEvent.DRIFT: "Drift detected",
    AlertEvent.CHANGED: "Drift changed",
    AlertEvent.RESOLVED: "Drift resolved",
    AlertEvent.FAILURE: "Drift check failed",
    AlertEvent.PENDING: "Unapplied changes",
    AlertEvent.CHECK_FAILED: "Check failed",
    AlertEvent.POLICY_VIOLATION: "Policy violation",
    AlertEvent.REMEDIATION_PROPOSED: "Drift fix proposed",
    AlertEvent.REMEDIATION_APPLIED: "Drift fix applied",
    AlertEvent.REMEDIATION_FAILED: "Drift fix not applied",
}


def resource_lines(resources: list[ResourceChange], *, heading: str | None = None) -> list[str]:
    lines = [heading] if heading and resources else []
    for r in resources[:MAX_LISTED]:
        lines.append(f"  {ACTION_SYMBOLS.get(r.action, r.action)} {r.address}")
        for a in r.attributes[:MAX_ATTRIBUTES]:
            if r.action == "create":
                lines.append(f"      {a.path}: {shown_value(a.after)}")
            elif r.action == "delete":
                lines.append(f"      {a.path}: {shown_value(a.before)}")
            else:
                lines.append(f"      {a.path}: {shown_value(a.before)} -> {shown_value(a.after)}")
        hidden = len(r.attributes) - MAX_ATTRIBUTES
        if hidden > 0 or r.truncated:
            lines.append("      ... more attributes in `tfo show`")
    if len(resources) > MAX_LISTED:
        lines.append(f"  ... and {len(resources) - MAX_LISTED} more")
    return lines


def _body(ws: WorkspaceDrift, event: AlertEvent) -> list[str]:
    lines: list[str] = []
    if event == AlertEvent.CHECK_FAILED:
        for check in ws.checks:
            lines.append(f"{check.address}: {check.status}")
            lines += [f"  {m}" for m in check.messages]
        lines.append(f"drift status: {ws.status.value}")
        return lines
    if event == AlertEvent.POLICY_VIOLATION:
        lines += [verdict.text() for verdict in ws.policy[:MAX_LISTED]]
        lines.append(f"drift status: {ws.status.value}")
        return lines
    if ws.status in (DriftStatus.DRIFTED, DriftStatus.PENDING):
        c = ws.changes
        lines.append(f"{c.create} to create, {c.update} to update, {c.delete} to delete, {c.replace} to replace")
        if ws.causes:
            lines.append(f"causes: {', '.join(cause.replace('_', ' ') for cause in ws.causes)}")
        lines += resource_lines(ws.drift, heading="changed outside terraform:")
        lines += resource_lines(ws.resources, heading="planned changes:")
        if ws.output_changes:
            lines.append(f"outputs changing: {', '.join(ws.output_changes)}")
        if ws.at_risk:
            lines.append(f"inputs from drifted outputs: {', '.join(ws.at_risk_from)}")
        if ws.ignored:
            lines.append(f"ignored by rules: {len(ws.ignored)}")
    elif ws.status == DriftStatus.ERRORED:
        lines.append(f"error: {ws.error}")
    else:
        lines.append("no changes remain")
    return lines


def make_alert(
    state: LedgerState,
    rec: RecordRun | None,
    name: str,
    ws: WorkspaceDrift,
    event: AlertEvent,
    *,
    reminder: bool = False,
    extra: list[str] | None = None,
) -> AlertRequest | None:
    """Args:
    extra: Lines that come first in the body (a remediation run and how to approve it).
    """
    alerts: AlertsConfig | None = state.alerts
    if alerts is None or event not in alerts.on:
        return None
    title = f"{'Drift still present' if reminder else _TITLES[event]}: {state.config}/{name}"
    lines = (extra or []) + _body(ws, event)
    tail = [
        f"run: {ws.run_id}" + (f" at commit {ws.commit[:7]}" if ws.commit else ""),
        f"details: tfo show {ws.run_id} -w {name}",
    ]
    ui_url = rec.ui_url if rec else None
    namespace = rec.namespace if rec else "default"
    if ui_url:
        tail.append(f"{ui_url.rstrip('/')}/namespaces/{namespace}/workflows/{ws.run_id}")
    budget = MAX_BODY_CHARS - sum(len(line) + 1 for line in tail)
    kept: list[str] = []
    for line in lines:
        budget -= len(line) + 1
        if budget < 0:
            kept.append("... (cut; see tfo show)")
            break
        kept.append(line)
    return AlertRequest(urls=alerts.urls, event=event, title=title, body="\n".join(kept + tail), workspace=name)
