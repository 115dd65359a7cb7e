"""Sending drift alerts through apprise, and handing finished runs to the drift ledger."""

from __future__ import annotations

import os

from temporalio import activity
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from tfo.config.drift_config import AlertEvent, expand_env
from tfo.config.drift_models import AlertRequest, LedgerState, RecordRun, ledger_id

_TYPES = {
    AlertEvent.DRIFT: "warning",
    AlertEvent.CHANGED: "warning",
    AlertEvent.RESOLVED: "success",
    AlertEvent.FAILURE: "failure",
    AlertEvent.PENDING: "info",
    AlertEvent.CHECK_FAILED: "warning",
    AlertEvent.POLICY_VIOLATION: "warning",
}


class AlertActivities:
    """Alert delivery; failures raise so Temporal retries with backoff."""

    @activity.defn(name="send_alert")
    async def send_alert(self, alert: AlertRequest) -> None:
        import apprise  # about 100 ms: only where alerts are sent

        notifier = apprise.Apprise()
        for i, template in enumerate(alert.urls):
            try:
                url = expand_env(template, dict(os.environ))
            except KeyError as exc:
                raise ApplicationError(
                    f"alert URL {i}: environment variable {exc.args[0]} is not set on this worker",
                    type="AlertConfig",
                ) from None
            if not notifier.add(url):
                raise ApplicationError(f"alert URL {i}: apprise cannot use it", type="AlertConfig", non_retryable=True)
        result = await notifier.async_notify(title=alert.title, body=alert.body, notify_type=_TYPES[alert.event])
        if not result:  # apprise reports failures through its result, never by raising
            raise ApplicationError(f"alert for {alert.workspace} was not delivered", type="AlertDelivery")


class DriftRecordActivities:
    """Signals a finished run into its config's drift ledger, starting the ledger if needed."""

    def __init__(self, client: Client, *, task_queue: str) -> None:
        self._client = client
        self._queue = task_queue

    @activity.defn(name="record_run")
    async def record_run(self, rec: RecordRun) -> None:
        key = rec.config_id or rec.config  # runs started before config IDs used the name
        # One look per run: its later parts follow the first into the same ledger.
        lost_note = await self._lost_note(key, rec.config) if rec.part == 0 else None
        await self._client.start_workflow(
            "DriftLedgerWorkflow",
            LedgerState(config=rec.config, lost_note=lost_note),
            id=ledger_id(key),
            task_queue=self._queue,
            start_signal="record",
            start_signal_args=[rec],
        )

    async def _lost_note(self, key: str, config: str) -> str | None:
        """Why a new ledger starts where one existed: never restart drift state silently."""
        try:
            desc = await self._client.get_workflow_handle(ledger_id(key)).describe()
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                return None
            raise
        status = desc.status
        if status is None or status in (WorkflowExecutionStatus.RUNNING, WorkflowExecutionStatus.CONTINUED_AS_NEW):
            return None
        when = desc.close_time.isoformat(timespec="seconds") if desc.close_time else "an unknown time"
        note = (
            f"the previous drift ledger of {config} ended ({status.name.lower()}) at {when}; "
            "drift state, history and counters restarted from the next run"
        )
        activity.logger.error("%s", note)
        return note
