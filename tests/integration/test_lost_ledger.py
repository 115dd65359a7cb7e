"""A drift ledger that Temporal terminated is never replaced silently."""

from __future__ import annotations

import asyncio
import time

from temporalio.testing import ActivityEnvironment

from tests.conftest import running_workers
from tfo.activities.alerts import DriftRecordActivities
from tfo.config.drift_models import DriftReport, RecordRun, ledger_id
from tfo.config.ledger_shards import ledger_shard
from tfo.config.payloads import RunReport, RunStatus, WorkspaceReport, WorkspaceStatus
from tfo.daemon.drift import fetch_history, fetch_report


def record(config: str, i: int) -> RecordRun:
    ws = WorkspaceReport(status=WorkspaceStatus.SUCCEEDED, outcome="no_changes", terraform_version="1.0.3")
    report = RunReport(
        run_id=f"tfo-plan-{config}-{i}", config=config, mode="plan", status=RunStatus.SUCCEEDED, workspaces={"a": ws}
    )
    return RecordRun(config=config, report=report)


async def report_when(handle, ready) -> DriftReport:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + 60
    while True:
        report: DriftReport | None = await handle.query("report", result_type=DriftReport)
        if report is not None and ready(report):
            return report
        assert time.monotonic() < deadline, report
        await asyncio.sleep(0.1)


async def test_a_terminated_ledger_is_reported_when_a_new_one_starts(temporal_env, task_queue) -> None:  # type: ignore[no-untyped-def]
    client = temporal_env.client
    config = f"lost-{task_queue}"
    activities = DriftRecordActivities(client, task_queue=task_queue)
    handle = client.get_workflow_handle(ledger_id(config))
    async with running_workers(client, task_queue):
        await ActivityEnvironment().run(activities.record_run, record(config, 1))
        first = await report_when(handle, lambda r: "a" in r.workspaces)
        assert first.lost_note is None
        await handle.terminate(reason="test: history limit")
        await ActivityEnvironment().run(activities.record_run, record(config, 2))
        handle = client.get_workflow_handle(ledger_id(config))
        second = await report_when(handle, lambda r: r.workspaces.get("a") is not None)
    assert second.lost_note is not None
    assert "ended (terminated)" in second.lost_note and config in second.lost_note
    assert second.workspaces["a"].run_id == f"tfo-plan-{config}-2"


async def test_shards_start_from_the_unsharded_ledger_of_an_older_tfo(temporal_env, task_queue) -> None:  # type: ignore[no-untyped-def]
    """Upgrading from tfo 0.2 (one ledger per config) keeps status, since, history and counts."""
    client = temporal_env.client
    config = f"upgrade-{task_queue}"
    activities = DriftRecordActivities(client, task_queue=task_queue)
    async with running_workers(client, task_queue):
        await ActivityEnvironment().run(activities.record_run, record(config, 1))  # shard None: as 0.2 did
        old = await report_when(client.get_workflow_handle(ledger_id(config)), lambda r: "a" in r.workspaces)
        sharded = record(config, 2).model_copy(update={"shard": ledger_shard("a")})
        await ActivityEnvironment().run(activities.record_run, sharded)
        shard = client.get_workflow_handle(ledger_id(config, ledger_shard("a")))
        new = await report_when(shard, lambda r: r.workspaces["a"].run_id.endswith("-2"))
        merged = await fetch_report(client, config)
        history = await fetch_history(client, config)
    assert new.lost_note is None
    assert new.workspaces["a"].since == old.workspaces["a"].since
    assert new.checks_total["a"] == {"clean": 2}
    assert merged is not None and merged.workspaces["a"].run_id == f"tfo-plan-{config}-2"
    assert history is not None and len(history.workspaces["a"]) == 1  # clean since run 1: one transition
