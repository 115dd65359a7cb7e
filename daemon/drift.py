"""Reading a config's drift report from its ledger workflow."""

from __future__ import annotations

from datetime import timedelta

from temporalio.client import Client, WorkflowQueryFailedError
from temporalio.service import RPCError, RPCStatusCode

from tfo.config.drift_models import DriftReport, HistoryReport, ledger_id
from tfo.config.errors import RunError


async def fetch_report(
    client: Client, config_id: str, *, timeout: timedelta = timedelta(seconds=5)
) -> DriftReport | None:
    """The latest drift report of a config (by `LoadedConfig.id`), or None if it was never checked."""
    handle = client.get_workflow_handle(ledger_id(config_id))
    try:
        report = await handle.query("report", result_type=DriftReport, rpc_timeout=timeout)
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return None
        raise RunError(f"cannot read the drift report of {config_id}: {exc.message}") from None
    except WorkflowQueryFailedError as exc:
        raise RunError(f"cannot read the drift report of {config_id}: {exc}") from None
    return report


async def fetch_history(
    client: Client, config_id: str, *, timeout: timedelta = timedelta(seconds=5)
) -> HistoryReport | None:
    """The recorded status transitions, or None if this config was never checked."""
    handle = client.get_workflow_handle(ledger_id(config_id))
    try:
        return await handle.query("history", result_type=HistoryReport, rpc_timeout=timeout)
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return None
        raise RunError(f"cannot read the drift history of {config_id}: {exc.message}") from None
    except WorkflowQueryFailedError as exc:
        raise RunError(f"cannot read the drift history of {config_id}: {exc}") from None
