"""A run reaches its ledger shards in batches (record_runs), and a retried batch never
hands a shard the same run twice."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from temporalio.testing import ActivityEnvironment

from tfo.activities.alerts import DriftRecordActivities
from tfo.config.drift_models import RecordBatch, RecordRun
from tfo.config.payloads import RunReport, WorkspaceReport
from tfo.workflows.run_end import pack


def _record(shard: int, names: int = 1, pad: int = 0) -> RecordRun:
    workspaces = {f"ws{shard}-{i}": WorkspaceReport(detail="x" * pad) for i in range(names)}
    return RecordRun(config="c", report=RunReport(run_id="r", mode="plan", workspaces=workspaces), shard=shard)


class _Flaky(DriftRecordActivities):
    """Delivers every record but shard 1's on the first attempt."""

    def __init__(self) -> None:
        super().__init__(client=None, task_queue="q")  # type: ignore[arg-type]
        self.delivered: list[int | None] = []
        self.attempt = 0

    async def record_run(self, rec: RecordRun) -> None:
        if rec.shard == 1 and self.attempt == 1:
            raise RuntimeError("server unavailable")
        self.delivered.append(rec.shard)


async def test_a_retried_batch_sends_only_what_the_failed_attempt_did_not() -> None:
    batch = RecordBatch(records=[_record(0), _record(1), _record(2)])
    recorder = _Flaky()
    env = ActivityEnvironment()
    beats: list[Any] = []
    env.on_heartbeat = lambda *details: beats.append(details)

    recorder.attempt = 1
    with pytest.raises(RuntimeError, match="server unavailable"):
        await env.run(recorder.record_runs, batch)
    assert sorted(recorder.delivered, key=str) == [0, 2]
    assert beats[-1] == ([0, 2],)

    recorder.attempt = 2
    env.info = dataclasses.replace(env.info, attempt=2, heartbeat_details=list(beats[-1]))
    await env.run(recorder.record_runs, batch)
    assert sorted(recorder.delivered, key=str) == [0, 1, 2]  # shard 0 and 2 once each


def test_records_are_packed_in_order_within_the_budget() -> None:
    small = [(n, _record(n)) for n in range(5)]
    one = len(small[0][1].model_dump_json())
    batches = pack(small, budget=2 * one)
    assert [[n for n, _ in b] for b in batches] == [[0, 1], [2, 3], [4]]
    assert pack(small, budget=10**6) == [small]

    big = (9, _record(9, pad=4000))
    batches = pack([small[0], big, small[1]], budget=1000)
    assert [[n for n, _ in b] for b in batches] == [[0], [9], [1]]  # too big for any batch: alone
    assert pack([], budget=1000) == []
