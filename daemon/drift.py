"""Reading a config's drift report (or its history) from its ledger shards."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import TypeVar

from temporalio.client import Client, WorkflowQueryFailedError
from temporalio.service import RPCError, RPCStatusCode

from tfo.config.drift_models import DriftReport, HistoryReport, ledger_id
from tfo.config.errors import RunError
from tfo.config.ledger_shards import LEDGER_SHARDS, merge_histories, merge_reports
from tfo.daemon.metrics import ConfigGauges

Answer = TypeVar("Answer", DriftReport, HistoryReport)
TIMEOUT = timedelta(seconds=5)
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


async def _ask(client: Client, config: str, query: str, answer: type[Answer], timeout: timedelta) -> list[Answer]:
    """Every shard's answer; the unsharded ledger of tfo 0.2 only if no shard exists yet."""
    answers = await asyncio.gather(
        *(_ask_one(client, ledger_id(config, shard), config, query, answer, timeout) for shard in range(LEDGER_SHARDS))
    )
    found = [a for a in answers if a is not None]
    if not found:
        old = await _ask_one(client, ledger_id(config), config, query, answer, timeout)
        found = [old] if old is not None else []
    return found


async def fetch_report(client: Client, config: str, *, timeout: timedelta = TIMEOUT) -> DriftReport | None:
    """The latest drift report, or None if this config was never checked."""
    found = await _ask(client, config, "report", DriftReport, timeout)
    return merge_reports(found[0].config, found) if found else None


async def fetch_gauges(client: Client, config: str, *, timeout: timedelta = TIMEOUT) -> ConfigGauges | None:
    """What the metrics show of the drift report, read a few shards at a time; None if
    this config was never checked."""
    parts: list[ConfigGauges] = []
    for first in range(0, LEDGER_SHARDS, GAUGE_BATCH):
        shards = range(first, min(first + GAUGE_BATCH, LEDGER_SHARDS))
        answers = await asyncio.gather(
            *(_ask_one(client, ledger_id(config, shard), config, "report", DriftReport, timeout) for shard in shards)
        )
        found = [a for a in answers if a is not None]
        if found:
            parts.append(ConfigGauges.of(merge_reports(found[0].config, found)))
    if not parts:  # the unsharded ledger of tfo 0.2, if any
        old = await _ask_one(client, ledger_id(config), config, "report", DriftReport, timeout)
        return ConfigGauges.of(old) if old is not None else None
    return ConfigGauges.merge(parts)


async def fetch_history(client: Client, config: str, *, timeout: timedelta = TIMEOUT) -> HistoryReport | None:
    """The recorded status transitions, or None if this config was never checked."""
    found = await _ask(client, config, "history", HistoryReport, timeout)
    return merge_histories(found[0].config, found) if found else None
