"""The drift ledger's records at rest: JSON between tasks, objects while opened."""

from __future__ import annotations

import gc
import tracemalloc

from tfo.config.drift_models import DriftReport, DriftStatus, LedgerState, RecordRun, Transition, WorkspaceDrift
from tfo.config.payloads import Baseline, ChangeCounts, ResourceChange, RunReport, WorkspaceReport, WorkspaceStatus
from tfo.workflows import drift_rules
from tfo.workflows.ledger_rest import RecordsAtRest

NOW = "2026-11-30T21:00:00+00:00"


def _state() -> LedgerState:
    drifted = WorkspaceDrift(
        status=DriftStatus.DRIFTED,
        causes=["out_of_band"],
        cause="out_of_band",
        baseline=Baseline(code="c1", variables="v1", inputs="i1", versions="t1", state="s1"),
        changes=ChangeCounts(update=1),
        resources=[ResourceChange(address="local_file.a", action="update")],
        consumes=["vpc.id"],
        checked_at=NOW,
        run_id="r1",
        since=NOW,
    )
    clean = WorkspaceDrift(status=DriftStatus.CLEAN, checked_at=NOW, run_id="r1")
    return LedgerState(
        config="c",
        workspaces={"app": drifted, "vpc": clean},
        history={"app": [Transition(at=NOW, to_status=DriftStatus.DRIFTED, causes=["out_of_band"], run_id="r1")]},
        checks_total={"app": {"drifted": 1}},
    )


def test_take_moves_the_records_out_and_reads_give_them_back_unchanged() -> None:
    state = _state()
    before = state.model_dump()
    rest = RecordsAtRest()
    rest.take(state)
    assert state.workspaces == {} and state.history == {}
    assert state.checks_total == {"app": {"drifted": 1}}  # the rest of the state stays as it is
    assert {n: ws.model_dump() for n, ws in rest.workspaces().items()} == before["workspaces"]
    assert {n: [t.model_dump() for t in items] for n, items in rest.history().items()} == before["history"]


def test_what_an_opened_block_changes_is_kept() -> None:
    state = _state()
    rest = RecordsAtRest()
    rest.take(state)
    with rest.opened(state) as opened:
        opened.workspaces["app"].last_alert_at = NOW
        opened.workspaces["db"] = WorkspaceDrift(status=DriftStatus.PENDING, checked_at=NOW, run_id="r2")
        opened.history["db"] = [Transition(at=NOW, to_status=DriftStatus.PENDING)]
    assert state.workspaces == {}
    assert rest.workspaces()["app"].last_alert_at == NOW
    assert rest.workspaces()["db"].status == DriftStatus.PENDING
    assert [t.to_status for t in rest.history()["db"]] == [DriftStatus.PENDING]


def test_an_error_in_an_opened_block_still_puts_the_records_back() -> None:
    state = _state()
    rest = RecordsAtRest()
    rest.take(state)
    try:
        with rest.opened(state):
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert state.workspaces == {} and set(rest.workspaces()) == {"app", "vpc"}


def test_restore_leaves_the_objects_in_the_state_for_continue_as_new() -> None:
    state = _state()
    expected = state.model_dump_json()
    rest = RecordsAtRest()
    rest.take(state)
    assert rest.restore(state).model_dump_json() == expected


def test_folding_a_run_through_the_store_is_the_same_as_folding_it_in_memory() -> None:
    report = RunReport(
        run_id="r3",
        mode="plan",
        workspaces={
            "app": WorkspaceReport(name="app", status=WorkspaceStatus.SUCCEEDED, outcome="no_changes"),
            "vpc": WorkspaceReport(name="vpc", status=WorkspaceStatus.FAILED, error="boom"),
        },
    )
    rec = RecordRun(config="c", report=report)
    in_memory = _state()
    alerts_a = drift_rules.record_run(in_memory, rec, "2026-11-30T22:00:00+00:00")
    stored = _state()
    rest = RecordsAtRest()
    rest.take(stored)
    with rest.opened(stored):
        alerts_b = drift_rules.record_run(stored, rec, "2026-11-30T22:00:00+00:00")
    assert [a.model_dump() for a in alerts_b] == [a.model_dump() for a in alerts_a]
    assert rest.restore(stored).model_dump() == in_memory.model_dump()
    assert stored.workspaces["app"].status == DriftStatus.CLEAN
    assert stored.workspaces["vpc"].status == DriftStatus.ERRORED


def test_records_at_rest_take_a_fraction_of_the_memory_of_objects() -> None:
    tracemalloc.start()
    try:
        start = tracemalloc.get_traced_memory()[0]
        state = LedgerState(config="c")
        for i in range(500):
            name = f"w{i:04d}"
            state.workspaces[name] = WorkspaceDrift(
                status=DriftStatus.CLEAN,
                baseline=Baseline(code=f"{i:040x}", variables=f"{i:040x}", inputs="", versions="", state=""),
                consumes=[f"{name}.out"],
                checked_at=f"2026-11-30T21:{i % 60:02d}:00+00:00",
                since=f"2026-11-30T20:{i % 60:02d}:00+00:00",
                run_id=f"tfo-plan-c-{i:012x}",
            )
            state.history[name] = [Transition(at=NOW, to_status=DriftStatus.CLEAN, run_id=f"tfo-plan-c-{i:012x}")]
        as_objects = tracemalloc.get_traced_memory()[0] - start
        rest = RecordsAtRest()
        rest.take(state)
        gc.collect()
        at_rest = tracemalloc.get_traced_memory()[0] - start
    finally:
        tracemalloc.stop()
    assert at_rest * 4 < as_objects, (at_rest, as_objects)


def test_the_report_json_is_the_report_the_objects_make() -> None:
    state = _state()
    rest = RecordsAtRest()
    rest.take(state)
    head = DriftReport(config="c", checks_total=state.checks_total, alerts_sent=3, lost_note="replaced")
    sent = DriftReport.model_validate_json(rest.report_json(head))
    assert sent == head.model_copy(update={"workspaces": rest.workspaces()})
    assert DriftReport.model_validate_json(RecordsAtRest().report_json(DriftReport(config="c"))) == DriftReport(
        config="c"
    )
