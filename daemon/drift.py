"""Reading a config's drift report (or its history) from its ledger shards."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import TypeVar

from temporalio.client import Client, WorkflowQueryFailedError
from temporalio.service import RPCError, RPCStatusCode

from tfo.config.drift_models import DriftReport, HistoryReport, ledger_id
from tfo.config.errors import RunError
from tfo.config.ledger_shards import LEDGER_SHARDS, merge_histories, merge_reports
from tfo.daemon.connection import QUERY_TIMEOUT
from tfo.daemon.metrics import ConfigGauges

Answer = TypeVar("Answer", DriftReport, HistoryReport)
# Shards read at once for the metrics: with 10,000 workspaces, 4 of 32 answers are ~4 MB
# of objects, where all of them at once are ~30 MB, every refresh.
GAUGE_BATCH = 4


async def _ask_one(
    client: Client, workflow_id: str, config: str, query: str, answer: type[Answer], timeout: timedelta
) -> Answer | None:
    handle = client.get_workflow_handle(workflow_id)
    try:
        return await handle.query(query, result_type=answer, rpc_timeout=timeout)
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return None
        raise RunError(f"cannot read the drift {query} of {config}: {exc.message}") from None
    except WorkflowQueryFailedError as exc:
        raise RunError(f"cannot read the drift {query} of {config}: {exc}") from None


async def _answers(
    client: Client, config: str, query: str, answer: type[Answer], timeout: timedelta, *, batch: int = LEDGER_SHARDS
) -> AsyncIterator[list[Answer]]:
    """The shards' answers, `batch` shards at a time; the unsharded ledger of tfo 0.2
    only if no shard exists yet."""
    found_any = False
    for first in range(0, LEDGER_SHARDS, batch):
        shards = range(first, min(first + batch, LEDGER_SHARDS))
        answers = await asyncio.gather(
            *(_ask_one(client, ledger_id(config, shard), config, query, answer, timeout) for shard in shards)
        )
        found = [a for a in answers if a is not None]
        if found:
            found_any = True
            yield found
    if not found_any:
        old = await _ask_one(client, ledger_id(config), config, query, answer, timeout)
        if old is not None:
            yield [old]


async def _ask(client: Client, config: str, query: str, answer: type[Answer], timeout: timedelta) -> list[Answer]:
    """Every shard's answer at once."""
    return [a async for found in _answers(client, config, query, answer, timeout) for a in found]


async def fetch_report(client: Client, config: str, *, timeout: timedelta = QUERY_TIMEOUT) -> DriftReport | None:
    """The latest drift report, or None if this config was never checked."""
    found = await _ask(client, config, "report", DriftReport, timeout)
    return merge_reports(found[0].config, found) if found else None


async def fetch_gauges(client: Client, config: str, *, timeout: timedelta = QUERY_TIMEOUT) -> ConfigGauges | None:
    """What the metrics show of the drift report, read a few shards at a time; None if
    this config was never checked."""
    parts = [
        ConfigGauges.of(merge_reports(found[0].config, found))
        async for found in _answers(client, config, "report", DriftReport, timeout, batch=GAUGE_BATCH)
    ]
    return ConfigGauges.merge(parts) if parts else None


async def fetch_history(client: Client, config: str, *, timeout: timedelta = QUERY_TIMEOUT) -> HistoryReport | None:
    """The recorded status transitions, or None if this config was never checked."""
    found = await _ask(client, config, "history", HistoryReport, timeout)
    return merge_histories(found[0].config, found) if found else None
