"""Big runs go in segments, behind one gate; big configs travel by reference.

Real terraform and a real dev server, with segments made tiny (TFO_SEGMENT_WORKSPACES)
so a handful of workspaces exercises what 10,000 do: outputs crossing segments (by
value and by reference), deferral across a segment boundary, one approval for all,
a failure skipping its dependents in later segments, and the client assembling the
report from the segments.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from tests.conftest import running_workers
from tests.reliability.history import BLOB_WARN, executions, largest_blob
from tests.stacks import WorkspaceTemplate as W
from tests.stacks import write_stack
from tfo.config.errors import RunError
from tfo.config.loader import load_config
from tfo.config.payloads import RunReport, RunRequest, RunStatus, WorkspaceStatus
from tfo.daemon import runs, stored_config

GIVE_UP = 240


def layered(binary: str, root: Path, queue: str, *, broken: str = "") -> Path:
    """Three layers of three; each workspace below the top consumes the one above it."""
    workspaces = []
    for layer in range(3):
        for col in range(3):
            name = f"l{layer}c{col}"
            up = f"l{layer - 1}c{col}" if layer else None
            workspaces.append(
                W(
                    name,
                    depends_on=[up] if up else [],
                    inputs=[(up, "path", "up")] if up else [],
                    variables={"up": "string"} if up else {},
                    outputs={"path": f'"{"${var.up}/" if up else ""}{name}"'},
                    broken=name == broken,
                )
            )
    return write_stack(root, workspaces, binary=binary, top={"task_queue": queue})


def request_for(config: Path, mode: str, workspaces: list[str] | None = None, **options: bool) -> RunRequest:
    loaded = load_config(config)
    return runs.build_request(
        loaded,
        mode=mode,
        workspaces=workspaces or [],
        state_dir=config.parent / ".tfo",
        **options,  # type: ignore[arg-type]
    )


async def wait_status(client, run_id: str, ready) -> RunReport:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + GIVE_UP
    while True:
        try:
            report = await runs.report(client, run_id)
        except RunError:  # not started yet
            report = None
        if report is not None and ready(report):
            return report
        assert time.monotonic() < deadline, report
        await asyncio.sleep(0.3)


async def test_an_apply_in_segments_passes_outputs_across_them_behind_one_gate(
    temporal_env, terraform, tmp_path, task_queue, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("TFO_SEGMENT_WORKSPACES", "2")
    config = layered(terraform.binary, tmp_path / "stack", task_queue)
    client = temporal_env.client
    request = request_for(config, "apply")
    async with running_workers(client, task_queue, [task_queue]):
        run_id = await runs.start_run(client, request)
        waiting = await wait_status(client, run_id, lambda r: r.status == RunStatus.AWAITING_APPROVAL)
        # One gate for the whole run; the client sees every workspace, read from the segments.
        assert len(waiting.segments) == 5, waiting.segments
        assert sorted(waiting.workspaces) == sorted(f"l{la}c{c}" for la in range(3) for c in range(3))
        assert waiting.workspaces["l0c0"].status == WorkspaceStatus.PLANNED
        # l1c* consume outputs that only l0c*'s apply produces: planned after it, across segments.
        assert waiting.workspaces["l2c2"].detail == "planned after upstream apply", waiting.workspaces["l2c2"]
        await runs.decide(client, run_id, approved=True, by="test")
        handle = client.get_workflow_handle(run_id, result_type=RunReport)
        header = await asyncio.wait_for(handle.result(), GIVE_UP)
        report = await runs.report(client, run_id)

    assert header.workspaces == {} and header.status == RunStatus.SUCCEEDED, header
    assert report.status == RunStatus.SUCCEEDED and report.approval_note == "approved by test"
    for name, ws in report.workspaces.items():
        assert ws.outcome == "applied", (name, ws)
    assert report.workspaces["l2c1"].outputs == {"path": "l0c1/l1c1/l2c1"}

    found = await executions(client, f"WorkflowId STARTS_WITH '{run_id}'")
    types = sorted(e.workflow_type for e in found)
    assert types == ["ParentWorkflow"] + ["RunSegmentWorkflow"] * 5, types
    assert max(largest_blob(e.history) for e in found) < BLOB_WARN

    # Planned again: nothing changes, and the plan-only run goes in segments too.
    monkeypatch.setenv("TFO_SEGMENT_WORKSPACES", "4")
    async with running_workers(client, task_queue, [task_queue]):
        again = request_for(config, "plan")
        plan_id = await runs.start_run(client, again)
        await asyncio.wait_for(client.get_workflow_handle(plan_id).result(), GIVE_UP)
        planned = await runs.report(client, plan_id)
    assert len(planned.segments) == 3 and planned.status == RunStatus.SUCCEEDED and not planned.changes
    assert all(ws.outcome == "no_changes" for ws in planned.workspaces.values()), planned.workspaces


async def test_a_failure_skips_its_dependents_in_later_segments_and_nothing_else(
    temporal_env, terraform, tmp_path, task_queue, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("TFO_SEGMENT_WORKSPACES", "3")
    config = layered(terraform.binary, tmp_path / "stack", task_queue, broken="l0c1")
    client = temporal_env.client
    request = request_for(config, "apply", auto_approve=True)
    async with running_workers(client, task_queue, [task_queue]):
        run_id = await runs.start_run(client, request)
        await asyncio.wait_for(client.get_workflow_handle(run_id).result(), GIVE_UP)
        report = await runs.report(client, run_id)
    assert report.status == RunStatus.FAILED
    assert report.workspaces["l0c1"].status == WorkspaceStatus.FAILED
    for name in ("l1c1", "l2c1"):
        ws = report.workspaces[name]
        assert ws.status == WorkspaceStatus.SKIPPED, (name, ws)
    assert report.workspaces["l1c1"].detail == "upstream l0c1 did not succeed"
    for name in ("l0c0", "l1c0", "l2c0", "l0c2", "l1c2", "l2c2"):
        assert report.workspaces[name].outcome == "applied", name


async def test_a_config_too_big_to_carry_travels_by_reference(
    temporal_env, terraform, tmp_path, task_queue, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(stored_config, "CONFIG_INLINE_BYTES", 1024)
    config = layered(terraform.binary, tmp_path / "stack", task_queue)
    client = temporal_env.client
    request = request_for(config, "plan", ["l1c0", "l0c0"])
    async with running_workers(client, task_queue, [task_queue]):
        run_id = await runs.start_run(client, request)
        await asyncio.wait_for(client.get_workflow_handle(run_id).result(), GIVE_UP)
        report = await runs.report(client, run_id)
    assert sorted(report.workspaces) == ["l0c0", "l1c0"], report.workspaces
    blobs = list((config.parent / ".tfo" / "artifacts" / "blobs").iterdir())
    assert len(blobs) == 1 and blobs[0].name.startswith("config-"), blobs
    started = [e for e in await executions(client, f"WorkflowId = '{run_id}'")]
    first = started[0].history.events[0].workflow_execution_started_event_attributes.input.payloads[0].data
    assert len(first) < 2048 and b"l2c2" not in first, first[:300]


async def test_cancelling_a_segmented_run_at_its_gate_ends_every_segment_and_removes_its_plans(
    temporal_env, terraform, tmp_path, task_queue, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("TFO_SEGMENT_WORKSPACES", "3")
    config = layered(terraform.binary, tmp_path / "stack", task_queue)
    client = temporal_env.client
    request = request_for(config, "apply")
    async with running_workers(client, task_queue, [task_queue]):
        run_id = await runs.start_run(client, request)
        await wait_status(client, run_id, lambda r: r.status == RunStatus.AWAITING_APPROVAL)
        assert (config.parent / ".tfo" / "runs" / run_id).is_dir()  # the saved plans of l0c*
        await client.get_workflow_handle(run_id).cancel()
        header = await asyncio.wait_for(client.get_workflow_handle(run_id, result_type=RunReport).result(), GIVE_UP)
        report = await runs.report(client, run_id)
        still = f"WorkflowId STARTS_WITH '{run_id}' AND ExecutionStatus = 'Running'"
        open_ = [e async for e in client.list_workflows(still)]
    assert header.status == RunStatus.CANCELLED and report.status == RunStatus.CANCELLED
    assert len(report.workspaces) == 9 and sorted(header.segments) == sorted(header.segments_closed)
    assert all(ws.outcome != "applied" for ws in report.workspaces.values())
    assert open_ == []
    assert not (config.parent / ".tfo" / "runs" / run_id).exists()


async def test_a_schedule_of_a_big_config_starts_its_checks_by_reference(
    temporal_env, terraform, tmp_path, task_queue, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    from tfo.daemon.schedule_owner import schedule_id
    from tfo.daemon.schedules import reconcile_schedules

    monkeypatch.setattr(stored_config, "CONFIG_INLINE_BYTES", 1024)
    monkeypatch.setenv("TFO_SEGMENT_WORKSPACES", "4")
    config = layered(terraform.binary, tmp_path / "stack", task_queue)
    text = config.read_text()
    config.write_text(text + f"schedules:\n  - name: drift-{task_queue}\n    every: 1h\n    paused: true\n")
    loaded = load_config(config)
    client = temporal_env.client
    await reconcile_schedules(client, loaded, state_dir=config.parent / ".tfo")
    handle = client.get_schedule_handle(schedule_id(loaded.id, f"drift-{task_queue}"))
    try:
        described = await handle.describe()
        payload = described.schedule.action.args[0]  # type: ignore[attr-defined]
        assert len(payload.data) < 2048 and b'"pages":{' in payload.data, payload.data[:400]
        async with running_workers(client, task_queue, [task_queue]):
            await handle.trigger()
            deadline = time.monotonic() + GIVE_UP
            while not (recent := (await handle.describe()).info.recent_actions):
                assert time.monotonic() < deadline
                await asyncio.sleep(0.3)
            run_id = recent[0].action.workflow_id  # type: ignore[attr-defined]
            await asyncio.wait_for(client.get_workflow_handle(run_id).result(), GIVE_UP)
            report = await runs.report(client, run_id)
    finally:
        await handle.delete()
    assert report.trigger == "schedule" and len(report.segments) == 3
    assert sorted(report.workspaces) == sorted(f"l{la}c{c}" for la in range(3) for c in range(3))
    assert report.status == RunStatus.SUCCEEDED, report


async def test_a_run_whose_stored_config_is_gone_fails_at_once_with_one_line(
    temporal_env, terraform, tmp_path, task_queue, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    from tfo.workflows.parent import ParentWorkflow

    monkeypatch.setattr(stored_config, "CONFIG_INLINE_BYTES", 1024)
    config = layered(terraform.binary, tmp_path / "stack", task_queue)
    client = temporal_env.client
    request = request_for(config, "plan")
    slim = await stored_config.by_reference(request)
    assert slim.config.pages is not None
    for blob in (config.parent / ".tfo" / "artifacts" / "blobs").iterdir():
        blob.unlink()  # e.g. a worker on another host, without the `artifacts:` store
    async with running_workers(client, task_queue, [task_queue]):
        handle = await client.start_workflow(ParentWorkflow.run, slim, id=f"gone-{task_queue}", task_queue=task_queue)
        report = await asyncio.wait_for(handle.result(), GIVE_UP)
    assert report.status == RunStatus.FAILED and report.workspaces == {}
    assert report.error is not None and "\n" not in report.error
    assert "stored by reference) is not readable here" in report.error and "artifacts:" in report.error, report.error
