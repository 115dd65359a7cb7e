"""History limits: a long-lived drift ledger and a large DAG stay under Temporal's
10,240-event warning per execution, and no payload reaches the 256 KB blob warning.

The ledger gets 1,000 simulated schedule cycles, each signalled the way the
record_run activity does it (signal-with-start). The DAG test runs real terraform on
500 tiny outputs-only workspaces, applied twice (a few minutes on 2 cores); set
TFO_RELIABILITY_DAG_SIZE for a smaller one while working on it.
"""

from __future__ import annotations

import asyncio
import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.conftest import running_workers
from tests.integration.drift_helpers import AlertReceiver
from tests.integration.engine import run_stack
from tests.reliability.figures import record_figure
from tests.reliability.history import BLOB_WARN, EVENTS_WARN, activity_attempts, executions, largest_blob
from tests.reliability.processes import GIVE_UP
from tests.stacks import WorkspaceTemplate as W
from tests.stacks import write_stack
from tfo.config.drift_config import AlertsConfig
from tfo.config.drift_models import DriftReport, LedgerState, RecordRun, ledger_id
from tfo.config.payloads import ChangeCounts, ResourceChange, RunReport, RunStatus, WorkspaceReport, WorkspaceStatus

CYCLES = 1000
WORKSPACES = [f"ws{i:02d}" for i in range(20)]


def cycle(config: str, i: int, alerts: AlertsConfig) -> RecordRun:
    """One scheduled check of 20 workspaces; ws00 drifts for 50 cycles out of every 100."""
    start = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=15 * i)
    reports = {}
    for name in WORKSPACES:
        drifted = name == "ws00" and (i // 50) % 2 == 1
        reports[name] = WorkspaceReport(
            status=WorkspaceStatus.SUCCEEDED,
            outcome="changes" if drifted else "no_changes",
            changes=ChangeCounts(update=1 if drifted else 0),
            resources=[ResourceChange(address=f"null_resource.{name}", action="update")] if drifted else [],
        )
    report = RunReport(
        run_id=f"tfo-plan-{config}-drift-{i}",
        config=config,
        mode="plan",
        status=RunStatus.SUCCEEDED,
        trigger="schedule",
        workspaces=reports,
        started_at=start.isoformat(),
        finished_at=(start + timedelta(seconds=40)).isoformat(),
    )
    return RecordRun(config=config, report=report, alerts=alerts)


async def test_drift_ledger_over_1000_cycles_stays_small(temporal_env, task_queue):
    client = temporal_env.client
    name = f"ledger-{task_queue}"
    with AlertReceiver().serving() as hook:
        alerts = AlertsConfig(urls=[hook.url])
        async with running_workers(client, task_queue):
            began = time.monotonic()
            handle = client.get_workflow_handle(ledger_id(name))
            for i in range(CYCLES):
                # What the record_run activity does at the end of every run.
                await client.start_workflow(
                    "DriftLedgerWorkflow",
                    LedgerState(config=name),
                    id=ledger_id(name),
                    task_queue=task_queue,
                    start_signal="record",
                    start_signal_args=[cycle(name, i, alerts)],
                )
                # Cycles come minutes apart: each is folded in before the next arrives, so
                # each costs the ledger a workflow task of its own (the most events).
                report = await settled(handle, i + 1, pending_ok=True)
            report = await settled(handle, CYCLES, pending_ok=False)
            seconds = time.monotonic() - began
        found = await executions(client, f"WorkflowId = '{ledger_id(name)}'")
        delivered = hook.titles()

    # ws00 drifts and is resolved 10 times: 19 transitions after the first clean check.
    assert report.checks_total["ws00"] == {"clean": 500, "drifted": 500}
    assert report.checks_total["ws19"] == {"clean": CYCLES}
    assert report.alerts_sent == 19 and len(delivered) == 19, delivered
    events = [e.events for e in found]
    blobs = [largest_blob(e.history) for e in found]
    record_figure("drift ledger, 1,000 cycles: executions (continue-as-new)", len(found))
    record_figure("drift ledger, 1,000 cycles: events per execution (max)", max(events))
    record_figure("drift ledger, 1,000 cycles: largest payload (bytes)", max(blobs))
    record_figure("drift ledger, 1,000 cycles: seconds", seconds)
    assert len(found) >= 2, events  # it continued as new
    assert max(events) < EVENTS_WARN, events
    assert max(blobs) < BLOB_WARN, blobs


async def settled(handle, checks: int, *, pending_ok: bool) -> DriftReport:  # type: ignore[no-untyped-def]
    """The ledger's report once it has folded in `checks` checks (and sent every alert)."""
    deadline = time.monotonic() + GIVE_UP
    while True:
        report: DriftReport = await handle.query("report", result_type=DriftReport)
        done = sum(report.checks_total.get("ws00", {}).values()) if report else 0
        if done == checks and (pending_ok or report.alerts_pending == 0):
            return report
        assert time.monotonic() < deadline, (done, checks)
        await asyncio.sleep(0.005)


def dag(root: Path, size: int, binary: str, queue: str) -> Path:
    """`size` outputs-only workspaces in layers of 25; each reads an output of one in the layer above."""
    layer = 25
    templates = []
    for i in range(size):
        name = f"w{i:03d}"
        above = [f"w{j:03d}" for j in range(max(0, (i // layer - 1) * layer), (i // layer) * layer)]
        deps = [above[i % len(above)], above[(i * 7 + 3) % len(above)]] if above else []
        deps = sorted(set(deps))
        inputs = [(deps[0], "id", "up")] if deps else []
        templates.append(
            W(
                name,
                depends_on=deps,
                inputs=inputs,
                variables={"up": "string"} if deps else {},
                outputs={"id": f'"{name}"'},
            )
        )
    config = write_stack(root, templates, binary=binary, top={"task_queue": queue}, settings={"parallelism": 8})
    for template in templates:
        body = "".join(f'variable "{v}" {{\n  type = string\n}}\n' for v in template.variables)
        body += f'output "id" {{\n  value = "{template.name}"\n}}\n'
        (root / template.name / "main.tf").write_text(body)
    return config


def started_by(child) -> str:  # type: ignore[no-untyped-def]
    """The workflow ID of the execution that started a child workflow."""
    started = child.history.events[0].workflow_execution_started_event_attributes
    return str(started.parent_workflow_execution.workflow_id)


@pytest.mark.parametrize(
    "size",
    [int(os.environ.get("TFO_RELIABILITY_DAG_SIZE") or 500)],
)
async def test_large_dag_apply_stays_under_the_limits(temporal_env, terraform, tmp_path, task_queue, size):
    """Two applies: the first (most workspaces planned after their upstream's apply), then a
    change to every workspace, so that all of them are planned, approved and applied: the
    most activities, and so the most events, a run of this DAG can have. The change
    makes every output 8 KB (a kubeconfig, a CA bundle), each consumed downstream, also
    across segments; a plan then reads them all back."""
    config = dag(tmp_path / "stack", size, terraform.binary, task_queue)
    client = temporal_env.client
    for round_, mode in (("first apply", "apply"), ("apply of 8 KB outputs everywhere", "apply"), ("plan", "plan")):
        began = time.monotonic()
        report = await asyncio.wait_for(run_stack(client, config, mode=mode), 3600)  # type: ignore[arg-type]
        seconds = time.monotonic() - began
        assert report.status == RunStatus.SUCCEEDED, [w.error for w in report.workspaces.values() if w.error][:3]
        outcome = "applied" if mode == "apply" else "no_changes"
        assert all(ws.outcome == outcome for ws in report.workspaces.values()), report.workspaces["w499"]
        # The run's ParentWorkflow and its segments (a run this big goes in segments).
        runs_ = await executions(client, f"WorkflowId STARTS_WITH '{report.run_id}'")
        children = [
            c
            for c in await executions(client, f"WorkflowType = 'TerraformWorkflow' AND TaskQueue = '{task_queue}'")
            if started_by(c).startswith(report.run_id)
        ]
        # Workspaces in local dirs run their phases inline in the segments (a file lock
        # each): terraform activities, and no child workflow per workspace.
        activities = sum(sum(map(len, activity_attempts(r.history).values())) for r in runs_)
        label = f"DAG of {size}, {round_}"
        record_figure(f"{label}: segments", len(runs_) - 1)
        record_figure(f"{label}: parent and segment events (max)", max(r.events for r in runs_))
        record_figure(f"{label}: terraform activities", activities)
        record_figure(f"{label}: largest payload (bytes)", max(largest_blob(e.history) for e in runs_))
        record_figure(f"{label}: seconds", seconds)
        assert children == [] and activities >= size and len(runs_) > 1  # inline, in segments
        assert max(r.events for r in runs_) < EVENTS_WARN
        assert max(largest_blob(e.history) for e in runs_) < BLOB_WARN
        for ws in (tmp_path / "stack").iterdir():
            if (ws / "main.tf").exists():
                big = '"${format("%08192d", 0)}-w'  # 8 KiB and a bit, unlike any other
                (ws / "main.tf").write_text((ws / "main.tf").read_text().replace('"w', big, 1))
