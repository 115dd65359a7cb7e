"""The drift ledger of a 2,000-workspace config over 30 days of 15-minute checks.

Records are built as the ParentWorkflow builds them (slim, split into bounded parts
by `ledger_parts`) and signalled the way the record_run activity does it. Nothing
may be lost, and every execution of the ledger must stay under Temporal's limits:
10,240 events and 10 MB of history, and every payload well under the 2 MB limit.
The ledger is split into shards by workspace (config/ledger_shards), so every
payload, continue-as-new input included, stays under 256 KiB.
"""

from __future__ import annotations

import asyncio
import os
import time
from datetime import UTC, datetime, timedelta

from temporalio.client import WorkflowQueryFailedError
from temporalio.service import RPCError

from tests.conftest import running_workers
from tests.reliability.figures import record_figure
from tests.reliability.history import BLOB_WARN, EVENTS_WARN, executions, largest_blob
from tests.reliability.processes import GIVE_UP
from tfo.config.drift_models import DriftReport, DriftStatus, LedgerState, RecordRun, ledger_id
from tfo.config.ledger_shards import config_shards, ledger_shard
from tfo.config.payloads import (
    Baseline,
    ChangeCounts,
    ResourceChange,
    RunReport,
    RunStatus,
    WorkspaceReport,
    WorkspaceStatus,
)
from tfo.daemon.drift import fetch_history, fetch_report
from tfo.workflows.run_report import ledger_parts

WORKSPACES = 2000
# CI folds two days of 15-minute checks (several continue-as-new cycles, about 2 minutes
# on 2 cores). The full 30 days: TFO_LEDGER_CYCLES=2880 (about 20 minutes on a quiet
# host; see RELIABILITY.md for what happened on a busy one).
CYCLES = int(os.environ.get("TFO_LEDGER_CYCLES", str(2 * 24 * 4)))
HISTORY_BYTES_LIMIT = 10 * 1024 * 1024
PAYLOAD_LIMIT = BLOB_WARN  # 256 KiB: Temporal warns at 512 KB and refuses 2 MB
NAMES = [f"ws{i:04d}" for i in range(WORKSPACES)]
FLAPPER = NAMES[0]  # drifts for 48 checks (12 h) out of every 96


def template(config: str, *, drifted: bool) -> list[tuple[int | None, list[RunReport]]]:
    """One check's parts, as the ParentWorkflow cuts them; the flapper drifted or not."""
    reports = {}
    for name in NAMES:
        changed = drifted and name == FLAPPER
        change = [ResourceChange(address=f"filestore_object.{name}", action="update")] if changed else []
        reports[name] = WorkspaceReport(
            status=WorkspaceStatus.SUCCEEDED,
            outcome="changes" if changed else "no_changes",
            changes=ChangeCounts(update=len(change)),
            resources=change,
            drift=change,
            terraform_version="1.11.4",
            baseline=Baseline(code=name[-4:] * 4, variables="v" * 8, inputs="i" * 8, versions="t" * 8, state="s" * 8),
        )
    report = RunReport(
        run_id="", config=config, mode="plan", status=RunStatus.SUCCEEDED, trigger="schedule", workspaces=reports
    )
    return ledger_parts(report, config_shards(NAMES))


def check(templates: dict[bool, list[tuple[int | None, list[RunReport]]]], config: str, i: int) -> list[RecordRun]:
    """Check number i: every 48 checks (12 h) the flapper turns drifted or clean again."""
    start = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=15 * i)
    shards = templates[(i // 48) % 2 == 1]
    times = {"started_at": start.isoformat(), "finished_at": (start + timedelta(seconds=90)).isoformat()}
    return [
        RecordRun(
            config=config,
            report=part.model_copy(update={"run_id": f"tfo-plan-{config}-drift-{i}", **times}),
            part=n,
            parts=len(parts),
            shard=shard,
            primary=k == 0,
        )
        for k, (shard, parts) in enumerate(shards)
        for n, part in enumerate(parts)
    ]


async def test_ledger_of_2000_workspaces_over_30_days(temporal_env, task_queue):  # type: ignore[no-untyped-def]
    client = temporal_env.client
    name = f"big-{task_queue}"
    shards = config_shards(NAMES)
    handles = [client.get_workflow_handle(ledger_id(name, shard)) for shard in shards]
    last = client.get_workflow_handle(ledger_id(name, ledger_shard(NAMES[-1])))
    began = time.monotonic()
    parts_sent = 0
    templates = {drifted: template(name, drifted=drifted) for drifted in (False, True)}

    async def signal(record: RecordRun) -> None:
        await client.start_workflow(
            "DriftLedgerWorkflow",
            LedgerState(config=name, shard=record.shard),
            id=ledger_id(name, record.shard),
            task_queue=task_queue,
            start_signal="record",
            start_signal_args=[record],
        )

    async with running_workers(client, task_queue):
        for i in range(CYCLES):
            # As the parent sends them: shards in parallel, each shard's parts in order.
            batch = check(templates, name, i)
            for n in range(max(r.parts for r in batch)):
                await asyncio.gather(*(signal(r) for r in batch if r.part == n))
            parts_sent += len(batch)
            # Checks come 15 minutes apart: each is folded in before the next arrives.
            await asyncio.gather(*(records(handle, i + 1) for handle in handles))
            if i == 0:
                first = await folded(client, name, last, 1)
        report = await folded(client, name, last, CYCLES)
        history = await fetch_history(client, name)
        assert history is not None
    seconds = time.monotonic() - began
    found = [e for shard in shards for e in await executions(client, f"WorkflowId = '{ledger_id(name, shard)}'")]

    # Nothing lost: every workspace has every check, the flapper every transition.
    assert len(report.workspaces) == WORKSPACES
    assert all(sum(report.checks_total[n].values()) == CYCLES for n in NAMES)
    flips = CYCLES // 48
    assert report.checks_total[FLAPPER]["drifted"] == sum(48 for k in range(flips) if k % 2 == 1) + (
        CYCLES % 48 if flips % 2 == 1 else 0
    )
    assert report.workspaces[NAMES[-1]].status == DriftStatus.CLEAN
    # `since` survived every continue-as-new: clean since the first check.
    assert report.workspaces[NAMES[-1]].since == first.workspaces[NAMES[-1]].since
    assert len(history.workspaces[FLAPPER]) == min(20, 1 + max(0, (CYCLES - 1) // 48))
    assert report.lost_note is None
    events = [e.events for e in found]
    sizes = [sum(ev.ByteSize() for ev in e.history.events) for e in found]
    blobs = [largest_blob(e.history) for e in found]
    record_figure(f"ledger, 2,000 workspaces x {CYCLES:,} checks: shards", len(shards))
    record_figure(f"ledger, 2,000 workspaces x {CYCLES:,} checks: record parts signalled", parts_sent)
    record_figure(f"ledger, 2,000 workspaces x {CYCLES:,} checks: executions (continue-as-new)", len(found))
    record_figure(f"ledger, 2,000 workspaces x {CYCLES:,} checks: events per execution (max)", max(events))
    record_figure(f"ledger, 2,000 workspaces x {CYCLES:,} checks: history bytes per execution (max)", max(sizes))
    record_figure(f"ledger, 2,000 workspaces x {CYCLES:,} checks: largest payload (bytes)", max(blobs))
    record_figure(f"ledger, 2,000 workspaces x {CYCLES:,} checks: seconds", seconds)
    assert max(events) < EVENTS_WARN, events
    assert max(sizes) < HISTORY_BYTES_LIMIT, sizes
    assert max(blobs) < PAYLOAD_LIMIT, blobs


async def records(handle, count: int) -> None:  # type: ignore[no-untyped-def]
    """Wait until `count` runs are folded in. A query can time out while the ledger is busy
    (each answer waits for its workflow task): that is retried, never taken as an answer."""
    deadline = time.monotonic() + GIVE_UP
    while True:
        try:
            if await handle.query("records", result_type=int, rpc_timeout=timedelta(seconds=30)) >= count:
                return
        except (RPCError, WorkflowQueryFailedError) as exc:
            assert time.monotonic() < deadline, f"{count}: {exc}"
        assert time.monotonic() < deadline, count
        await asyncio.sleep(0.1)


async def folded(client, name: str, last, checks: int) -> DriftReport:  # type: ignore[no-untyped-def]
    """The merged report once the last workspace has `checks` checks folded in."""
    deadline = time.monotonic() + GIVE_UP
    while True:
        shard: DriftReport | None = await last.query("report", result_type=DriftReport)
        done = sum(shard.checks_total.get(NAMES[-1], {}).values()) if shard else 0
        if done >= checks:
            report = await fetch_report(client, name, timeout=timedelta(seconds=30))
            assert report is not None
            return report
        assert time.monotonic() < deadline, (done, checks)
        await asyncio.sleep(0.05)
