"""The drift ledger of a 2,000-workspace config over 30 days of 15-minute checks.

Records are built as the ParentWorkflow builds them (slim, split into bounded parts
by `ledger_parts`) and signalled the way the record_run activity does it. Nothing
may be lost, and every execution of the ledger must stay under Temporal's limits:
10,240 events and 10 MB of history, and every payload well under the 2 MB limit.
(At 2,000 workspaces the ledger's continue-as-new state is about 1 MB, over the
512 KB warning: keeping it by reference is the scale issue's work.)
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
from tests.reliability.history import EVENTS_WARN, executions, largest_blob
from tests.reliability.processes import GIVE_UP
from tfo.config.drift_models import DriftReport, DriftStatus, HistoryReport, LedgerState, RecordRun, ledger_id
from tfo.config.payloads import (
    Baseline,
    ChangeCounts,
    ResourceChange,
    RunReport,
    RunStatus,
    WorkspaceReport,
    WorkspaceStatus,
)
from tfo.workflows.run_report import ledger_parts

WORKSPACES = 2000
# CI folds two days of 15-minute checks (several continue-as-new cycles, about 2 minutes
# on 2 cores). The full 30 days: TFO_LEDGER_CYCLES=2880 (about 20 minutes on a quiet
# host; see RELIABILITY.md for what happened on a busy one).
CYCLES = int(os.environ.get("TFO_LEDGER_CYCLES", str(2 * 24 * 4)))
HISTORY_BYTES_LIMIT = 10 * 1024 * 1024
PAYLOAD_LIMIT = 1536 * 1024  # Temporal refuses 2 MB
NAMES = [f"ws{i:04d}" for i in range(WORKSPACES)]
FLAPPER = NAMES[0]  # drifts for 48 checks (12 h) out of every 96


def template(config: str, *, drifted: bool) -> list[RunReport]:
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
    return ledger_parts(report)


def check(templates: dict[bool, list[RunReport]], config: str, i: int) -> list[RecordRun]:
    """Check number i: every 48 checks (12 h) the flapper turns drifted or clean again."""
    start = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=15 * i)
    parts = templates[(i // 48) % 2 == 1]
    times = {"started_at": start.isoformat(), "finished_at": (start + timedelta(seconds=90)).isoformat()}
    return [
        RecordRun(
            config=config,
            report=part.model_copy(update={"run_id": f"tfo-plan-{config}-drift-{i}", **times}),
            part=n,
            parts=len(parts),
        )
        for n, part in enumerate(parts)
    ]


async def test_ledger_of_2000_workspaces_over_30_days(temporal_env, task_queue):  # type: ignore[no-untyped-def]
    client = temporal_env.client
    name = f"big-{task_queue}"
    handle = client.get_workflow_handle(ledger_id(name))
    began = time.monotonic()
    parts_sent = 0
    templates = {drifted: template(name, drifted=drifted) for drifted in (False, True)}
    async with running_workers(client, task_queue):
        for i in range(CYCLES):
            for record in check(templates, name, i):
                await client.start_workflow(
                    "DriftLedgerWorkflow",
                    LedgerState(config=name),
                    id=ledger_id(name),
                    task_queue=task_queue,
                    start_signal="record",
                    start_signal_args=[record],
                )
                parts_sent += 1
            # Checks come 15 minutes apart: each is folded in before the next arrives.
            await records(handle, i + 1)
            if i == 0:
                first = await folded(handle, 1)
        report = await folded(handle, CYCLES)
        history: HistoryReport = await handle.query("history", result_type=HistoryReport)
    seconds = time.monotonic() - began
    found = await executions(client, f"WorkflowId = '{ledger_id(name)}'")

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


async def folded(handle, checks: int) -> DriftReport:  # type: ignore[no-untyped-def]
    """The report once the last workspace has `checks` checks folded in."""
    deadline = time.monotonic() + GIVE_UP
    while True:
        report: DriftReport | None = await handle.query("report", result_type=DriftReport)
        done = sum(report.checks_total.get(NAMES[-1], {}).values()) if report else 0
        if done >= checks:
            assert report is not None
            return report
        assert time.monotonic() < deadline, (done, checks)
        await asyncio.sleep(0.05)
