"""Pure rules of drift tracking: fold a run into the ledger and decide which alerts to send.

Alerts fire on transitions only (new drift, a different drift, unapplied changes,
resolved, a failed check, a newly failing `check` block), so the ledger never cries
wolf and never forgets. `unknown` raises no alert of its own: the upstream's
failure alert covers it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from tfo.config.drift_config import AlertEvent
from tfo.config.drift_models import (
    MAX_LEDGER_TRANSITIONS,
    MAX_TRANSITIONS,
    AlertRequest,
    DriftStatus,
    Histogram,
    LedgerState,
    RecordRun,
    Transition,
    WorkspaceDrift,
)
from tfo.config.plan_models import diff_bytes
from tfo.workflows import remediation_rules
from tfo.workflows.drift_alerts import make_alert
from tfo.workflows.drift_classify import classify

# Attribute diffs one ledger shard keeps, all its workspaces together (see _bound_diffs).
SHARD_DIFF_BYTES = 96 * 1024
# How often the ledger looks for drift that is due a reminder.
REMIND_CHECK = timedelta(minutes=1)
# Results that say nothing about drift: the last settled status carries through them.
_UNSETTLED = (DriftStatus.ERRORED, DriftStatus.UNKNOWN)


def _predates_apply(started_at: str | None, applied_at: str | None) -> bool:
    if not started_at or not applied_at:
        return False
    return datetime.fromisoformat(started_at) < datetime.fromisoformat(applied_at)


def record_run(
    state: LedgerState,
    rec: RecordRun,
    now: str,
    *,
    applied_at: dict[str, str] | None = None,
    new_run_id: Callable[[], str] | None = None,
    bound: bool = True,
) -> list[AlertRequest]:
    """Fold one run into the ledger state; return the alerts its transitions call for.

    It reads and writes only the records of `touched(rec)`: the state may hold just
    those (bound=False), and the caller then applies bound_shard over the whole shard.

    Args:
        applied_at: Workspace -> when the latest recorded run that applied it finished.
            Runs are recorded in the order they finish, not the order they looked at a
            workspace: a check that started before an apply finished may have planned
            against the state from before the apply, and would report the drift that
            the apply just resolved. Such results are dropped (the next check counts),
            and this run's applies are added. None: no such filtering.
        new_run_id: Makes the ID of a remediation run (deterministic in the workflow).
    """
    # Every run carries its config's alerts: None means the config no longer has any.
    state.alerts = rec.alerts
    report = rec.report
    if rec.part == rec.parts - 1 and rec.counted:
        state.records += 1  # a run counts once all its parts are folded in
    if rec.primary and rec.part == 0 and report.started_at and report.finished_at:
        seconds = (
            datetime.fromisoformat(report.finished_at) - datetime.fromisoformat(report.started_at)
        ).total_seconds()
        state.run_durations.setdefault(report.mode, Histogram()).observe(seconds)
    closed = remediation_rules.closed_proposals(state, rec)
    results: dict[str, WorkspaceDrift] = {}
    for name, ws in sorted(report.workspaces.items()):
        previous = state.workspaces.get(name)
        result = classify(ws, previous, mode=report.mode, run_id=report.run_id, now=now)
        if result is not None and not _predates_apply(report.started_at, (applied_at or {}).get(name)):
            result.consumes = [f"{src}.{out}" for src, out in rec.consumes.get(name, [])]
            results[name] = result
    if applied_at is not None and report.finished_at:
        for name, ws in report.workspaces.items():
            if ws.outcome == "applied":
                applied_at[name] = report.finished_at
    _mark_at_risk(results, {**state.workspaces, **results}, rec.consumes)
    alerts: list[AlertRequest] = []
    for name, closing in closed:
        known = results.get(name) or state.workspaces[name]
        note = [remediation_rules.closing_note(rec, name)]
        alerts += [a for a in [make_alert(state, rec, name, known, closing, extra=note)] if a is not None]
    for name, result in results.items():
        previous = state.workspaces.get(name)
        _carry_settled(previous, result)
        remediation_rules.carry_proposal(previous, result)
        event = transition(previous, result)
        if remediation_rules.step(state, rec, name, result, new_run_id or _no_run_id):
            event = None  # the proposal's alert (sent once its run started) says it all
        counts = state.checks_total.setdefault(name, {})
        counts[result.status.value] = counts.get(result.status.value, 0) + 1
        events = [e for e in (event, _check_event(previous, result), _policy_event(previous, result)) if e is not None]
        sent = [a for e in events if (a := make_alert(state, rec, name, result, e)) is not None]
        alerts += sent
        result.last_alert_at = now if sent else (previous.last_alert_at if previous else None)
        if previous is None or previous.status != result.status:
            _remember(state, name, Transition(
                at=now,
                from_status=previous.status if previous else None,
                to_status=result.status,
                causes=result.causes,
                run_id=result.run_id,
            ))  # fmt: skip
        state.workspaces[name] = result
    if bound:
        bound_shard(state)
    return alerts


def touched(rec: RecordRun) -> set[str]:
    """The workspaces whose records folding `rec` reads or writes: its own, and those
    they read outputs from (for the at-risk marks)."""
    names = set(rec.report.workspaces)
    names.update(src for name in rec.report.workspaces for src, _ in rec.consumes.get(name, []))
    return names


def within_bounds(diff_bytes: int, transitions: int) -> bool:
    """True when bound_shard would change nothing, from the shard's totals."""
    return diff_bytes <= SHARD_DIFF_BYTES and transitions <= MAX_LEDGER_TRANSITIONS


def bound_shard(state: LedgerState) -> None:
    """Keep the shard's transitions and attribute diffs within their bounds (the state
    must hold every record of the shard)."""
    _trim_history(state)
    _bound_diffs(state)


def _bound_diffs(state: LedgerState) -> None:
    """Keep the attribute diffs a shard holds under SHARD_DIFF_BYTES, so its state (the
    continue-as-new input and the `report` answer) stays bounded however many of its
    workspaces drift. The biggest go first; which resources changed is kept (and with
    it each drift's fingerprint), and `tfo show RUN` has the diff."""
    sizes = {name: record_diff_bytes(ws) for name, ws in state.workspaces.items()}
    total = sum(sizes.values())
    for name in sorted(sizes, key=lambda n: (-sizes[n], n)):
        if total <= SHARD_DIFF_BYTES or sizes[name] == 0:
            break
        ws = state.workspaces[name]
        ws.resources = [r.model_copy(update={"attributes": [], "truncated": True}) for r in ws.resources]
        ws.drift = [r.model_copy(update={"attributes": [], "truncated": True}) for r in ws.drift]
        ws.diff_truncated = True
        total -= sizes[name]


def record_diff_bytes(ws: WorkspaceDrift) -> int:
    return diff_bytes(a for r in (*ws.resources, *ws.drift) for a in r.attributes)


def _no_run_id() -> str:
    raise RuntimeError("a remediation needs new_run_id")


def _mark_at_risk(
    results: dict[str, WorkspaceDrift], merged: dict[str, WorkspaceDrift], consumes: dict[str, list[tuple[str, str]]]
) -> None:
    """A workspace that reads outputs of a drifted upstream is at risk: what it was built
    against no longer matches the real infrastructure, whether or not terraform already
    shows the output changing."""
    for name, result in results.items():
        risky = [
            f"{src}.{out}"
            for src, out in consumes.get(name, [])
            if merged.get(src) is not None and merged[src].status == DriftStatus.DRIFTED
        ]
        result.at_risk, result.at_risk_from = bool(risky), sorted(set(risky))


def _carry_settled(previous: WorkspaceDrift | None, result: WorkspaceDrift) -> None:
    """Keep `since`, and through errored/unknown checks the last settled status."""
    if previous is not None and previous.status == result.status:
        result.since = previous.since or previous.checked_at
    else:
        result.since = result.checked_at
    if result.status not in _UNSETTLED or previous is None:
        return
    if previous.status in _UNSETTLED:
        result.settled_status = previous.settled_status
        result.settled_fingerprint = previous.settled_fingerprint
        result.settled_since = previous.settled_since
    else:
        result.settled_status, result.settled_fingerprint = previous.status, previous.fingerprint()
        result.settled_since = previous.since
    result.baseline = result.baseline or previous.baseline


def _remember(state: LedgerState, name: str, item: Transition) -> None:
    items = state.history.setdefault(name, [])
    items.append(item)
    del items[:-MAX_TRANSITIONS]


def _trim_history(state: LedgerState) -> None:
    """Keep a ledger shard's transitions within MAX_LEDGER_TRANSITIONS, oldest dropped first."""
    excess = sum(len(v) for v in state.history.values()) - MAX_LEDGER_TRANSITIONS
    if excess <= 0:
        return
    dated = sorted((t.at, name, i) for name, items in state.history.items() for i, t in enumerate(items))
    drop: dict[str, int] = {}
    for _, name, _ in dated[:excess]:
        drop[name] = drop.get(name, 0) + 1
    for name, count in drop.items():
        del state.history[name][:count]  # a workspace's oldest come first in its list


def transition(previous: WorkspaceDrift | None, current: WorkspaceDrift) -> AlertEvent | None:
    before = previous.status if previous else None
    if current.status == DriftStatus.ERRORED:
        return AlertEvent.FAILURE if before != DriftStatus.ERRORED else None
    if current.status == DriftStatus.UNKNOWN:
        return None
    # Compared with the last check that said something: an errored or unknown check in
    # between neither hides a resolution nor makes known drift new again.
    settled = previous is not None and before in _UNSETTLED
    if settled:
        assert previous is not None
        before = previous.settled_status
    if current.status == DriftStatus.DRIFTED:
        if before != DriftStatus.DRIFTED:
            return AlertEvent.DRIFT
        assert previous is not None
        fingerprint = previous.settled_fingerprint if settled else previous.fingerprint()
        return AlertEvent.CHANGED if fingerprint != current.fingerprint() else None
    if current.status == DriftStatus.PENDING:
        return AlertEvent.PENDING if before != DriftStatus.PENDING else None
    return AlertEvent.RESOLVED if before == DriftStatus.DRIFTED else None


def _check_event(previous: WorkspaceDrift | None, current: WorkspaceDrift) -> AlertEvent | None:
    """A `check` block or condition that newly fails."""
    known = {c.address for c in previous.checks} if previous else set()
    return AlertEvent.CHECK_FAILED if {c.address for c in current.checks} - known else None


def _policy_event(previous: WorkspaceDrift | None, current: WorkspaceDrift) -> AlertEvent | None:
    """A (rule, resource) pair that newly violates a policy.

    A check that errored or could not run says nothing about policy: it keeps the
    pairs already known, so the next real check does not announce them again.
    """
    known = {(v.rule, v.address) for v in previous.policy} if previous else set()
    if current.status in _UNSETTLED:
        current.policy = previous.policy if previous else []
        return None
    return AlertEvent.POLICY_VIOLATION if {(v.rule, v.address) for v in current.policy} - known else None


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
