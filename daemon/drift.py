"""Reading a config's drift report (or its history) from its ledger workflow."""

from __future__ import annotations

from datetime import timedelta
from typing import TypeVar

from temporalio.client import Client, WorkflowQueryFailedError
from temporalio.service import RPCError, RPCStatusCode

from tfo.config.drift_models import DriftReport, HistoryReport, ledger_id
from tfo.config.errors import RunError

Answer = TypeVar("Answer", DriftReport, HistoryReport)
TIMEOUT = timedelta(seconds=5)


async def _ask(client: Client, config: str, query: str, answer: type[Answer], timeout: timedelta) -> Answer | None:
    handle = client.get_workflow_handle(ledger_id(config))
    try:
        return await handle.query(query, result_type=answer, rpc_timeout=timeout)
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return None
        raise RunError(f"cannot read the drift {query} of {config}: {exc.message}") from None
    except WorkflowQueryFailedError as exc:
        raise RunError(f"cannot read the drift {query} of {config}: {exc}") from None


async def fetch_report(client: Client, config: str, *, timeout: timedelta = TIMEOUT) -> DriftReport | None:
    """The latest drift report, or None if this config was never checked."""
    return await _ask(client, config, "report", DriftReport, timeout)


async def fetch_history(client: Client, config: str, *, timeout: timedelta = TIMEOUT) -> HistoryReport | None:
    """The recorded status transitions, or None if this config was never checked."""
    return await _ask(client, config, "history", HistoryReport, timeout)
