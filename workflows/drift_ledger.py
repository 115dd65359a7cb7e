"""DriftLedgerWorkflow: the durable drift state of one config.

Every finished run is signalled here (by the record_run activity, with
signal-with-start). The ledger folds it into per-workspace drift records, queues
alerts for transitions, and sends them one by one through an activity that
retries until delivery. State lives in Temporal, not in any daemon's memory, so
a restarted daemon loses nothing and repeats no alert; metrics are read from the
`report` query. The ledger continues as new before its history grows large.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.api.common.v1 import Payload
from temporalio.common import RawValue, RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from tfo.config.drift_config import AlertEvent
    from tfo.config.drift_models import (
        AlertRequest,
        DriftReport,
        HistoryReport,
        LedgerState,
        RecordRun,
        RemediationAction,
    )
    from tfo.workflows import drift_rules, remediation_rules
    from tfo.workflows.drift_alerts import make_alert
    from tfo.workflows.ledger_rest import RecordsAtRest

# Continue as new well before Temporal's 10,240-event warning and its 50 MB history
# limit (at 10 MB, Temporal itself starts warning).
HISTORY_LIMIT = 4000
HISTORY_BYTES_LIMIT = 4 * 1024 * 1024
# Workspace results folded per workflow task (about one record part): a task, and the
# replay of one for a query, stays well inside the SDK's 2 s deadlock limit on a busy host.
FOLD_BUDGET = 800
APPLIED_AT = "applied_at"
ALERT_RETRY = RetryPolicy(initial_interval=timedelta(seconds=5), maximum_interval=timedelta(minutes=5))
# Starting a fix is worth a few tries, not forever: the drift alert goes out instead.
REMEDIATION_RETRY = RetryPolicy(initial_interval=timedelta(seconds=2), maximum_attempts=5)


@workflow.defn(name="DriftLedgerWorkflow")
class DriftLedgerWorkflow:
    def __init__(self) -> None:
        self._state: LedgerState | None = None
        # The state's workspaces and history, as JSON between tasks (see ledger_rest).
        self._records = RecordsAtRest()
        self._inbox: list[RecordRun] = []
        self._applied_at: dict[str, str] = {}

    @workflow.signal(name="record")
    def record(self, rec: RecordRun) -> None:
        self._inbox.append(rec)

    @workflow.query(name="report")
    def report(self) -> RawValue | None:
        """A DriftReport, its records sent as stored (the metrics cache asks every 10 s)."""
        if self._state is None:
            return None
        s = self._state
        head = DriftReport(
            config=s.config,
            checks_total=s.checks_total,
            run_durations=s.run_durations,
            alerts_pending=len(s.outbox),
            alerts_sent=s.alerts_sent,
            lost_note=s.lost_note,
        )
        return RawValue(Payload(metadata={"encoding": b"json/plain"}, data=self._records.report_json(head)))

    @workflow.query(name="records")
    def records(self) -> int:
        """How many runs the ledger has folded in, every part of each: a small answer."""
        return self._state.records if self._state is not None else 0

    @workflow.query(name="history")
    def history(self) -> HistoryReport | None:
        if self._state is None:
            return None
        return HistoryReport(config=self._state.config, workspaces=self._records.history())

    @workflow.run
    async def run(self, state: LedgerState) -> None:
        self._state = state
        self._records.take(state)
        # When each workspace was last applied (see drift_rules.record_run); carried across
        # continue-as-new in the memo, so LedgerState and the run signature stay as they are.
        self._applied_at = dict(workflow.memo_value(APPLIED_AT, {}, type_hint=dict[str, str]))
        sender = asyncio.create_task(self._send_alerts())
        actor = asyncio.create_task(self._remediate())
        while True:
            # A timeout (reminders on) means no run to fold: time to look for due reminders.
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(lambda: bool(self._inbox), timeout=self._reminder_wait())
            now = workflow.now()
            budget = FOLD_BUDGET
            while self._inbox and budget > 0:
                rec = self._inbox.pop(0)
                budget -= max(1, len(rec.report.workspaces))
                self._fold(state, rec, now)
            if not self._inbox and self._reminder_wait() is not None:
                with self._records.opened(state, self._records.drifted()):
                    self._remind(state, now)
            if self._inbox:
                # A backlog (many runs, or a large run in many parts) is folded over several
                # workflow tasks: one task must end well within the SDK's 2 s deadlock limit.
                await workflow.sleep(timedelta(milliseconds=1))
                continue
            if self._history_is_large() and not self._inbox:
                await workflow.wait_condition(lambda: not (state.outbox or state.actions) or bool(self._inbox))
                if not self._inbox:
                    sender.cancel()
                    actor.cancel()
                    workflow.continue_as_new(self._records.restore(state), memo={APPLIED_AT: self._applied_at})

    def _fold(self, state: LedgerState, rec: RecordRun, now: datetime) -> None:
        """Fold a record part in, opening only the records it touches; the whole shard
        only when its bounds are exceeded (see ledger_rest)."""
        with self._records.opened(state, drift_rules.touched(rec)):
            state.outbox.extend(
                drift_rules.record_run(
                    state, rec, now.isoformat(), applied_at=self._applied_at, new_run_id=self._new_run_id, bound=False
                )
            )
        if not drift_rules.within_bounds(self._records.diff_bytes(), self._records.transitions()):
            with self._records.opened(state):
                drift_rules.bound_shard(state)

    @staticmethod
    def _history_is_large() -> bool:
        info = workflow.info()
        return (
            info.get_current_history_length() > HISTORY_LIMIT
            or info.get_current_history_size() > HISTORY_BYTES_LIMIT
            or info.is_continue_as_new_suggested()
        )

    def _reminder_wait(self) -> timedelta | None:
        assert self._state is not None
        alerts = self._state.alerts
        if alerts is None or alerts.remind_every is None:
            return None
        return min(alerts.remind_every, drift_rules.REMIND_CHECK)

    @staticmethod
    def _remind(state: LedgerState, now: datetime) -> None:
        for name, ws in drift_rules.due_reminders(state, now):
            alert = make_alert(state, None, name, ws, AlertEvent.DRIFT, reminder=True)
            if alert is not None:
                state.outbox.append(alert)
                ws.last_alert_at = now.isoformat()

    def _new_run_id(self) -> str:
        assert self._state is not None
        return f"tfo-apply-{self._state.config}-remediate-{workflow.uuid4().hex[:12]}"

    async def _remediate(self) -> None:
        """Start (or stop) remediation runs, one at a time, in the order they were decided."""
        state = self._state
        assert state is not None
        while True:
            await workflow.wait_condition(lambda: bool(state.actions))
            action: RemediationAction = state.actions[0]
            try:
                await workflow.execute_activity(
                    f"{action.kind}_remediation",
                    action,
                    start_to_close_timeout=timedelta(seconds=60),
                    retry_policy=REMEDIATION_RETRY,
                )
            except ActivityError as exc:
                state.actions.pop(0)
                with self._records.opened(state, [action.workspace]):
                    self._not_started(action, str(exc.cause or exc))
                continue
            state.actions.pop(0)
            with self._records.opened(state, [action.workspace]):
                ws = state.workspaces.get(action.workspace)
                if action.kind == "propose" and ws is not None and ws.proposal == action.new_run_id:
                    lines = remediation_rules.proposal_lines(action)
                    alert = make_alert(state, None, action.workspace, ws, AlertEvent.REMEDIATION_PROPOSED, extra=lines)
                    if alert is not None:
                        state.outbox.append(alert)

    def _not_started(self, action: RemediationAction, why: str) -> None:
        """A fix that could not start: say so, and alert the drift it was to fix (records opened)."""
        state = self._state
        assert state is not None
        ws = state.workspaces.get(action.workspace)
        if action.kind != "propose" or ws is None or ws.proposal != action.new_run_id:
            return
        ws.proposal, ws.proposal_fingerprint = None, ""
        note = [f"the remediation run could not start: {why}"]
        for event in (AlertEvent.REMEDIATION_FAILED, AlertEvent.DRIFT):
            alert = make_alert(state, None, action.workspace, ws, event, extra=note)
            if alert is not None:
                state.outbox.append(alert)

    async def _send_alerts(self) -> None:
        state = self._state
        assert state is not None
        while True:
            await workflow.wait_condition(lambda: bool(state.outbox))
            alert: AlertRequest = state.outbox[0]
            await workflow.execute_activity(
                "send_alert",
                alert,
                start_to_close_timeout=timedelta(seconds=60),
                retry_policy=ALERT_RETRY,
            )
            state.outbox.pop(0)
            state.alerts_sent += 1
