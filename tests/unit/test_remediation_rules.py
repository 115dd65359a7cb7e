"""Remediation rules (workflows/remediation_rules.py), folded in by drift_rules.record_run."""

from __future__ import annotations

from itertools import count

from tfo.config.drift_config import AlertEvent, AlertsConfig
from tfo.config.drift_models import DriftStatus, LedgerState, RecordRun
from tfo.config.payloads import ChangeCounts, ResourceChange, RunReport, RunStatus, WorkspaceReport, WorkspaceStatus
from tfo.workflows.drift_rules import record_run

NOW = "2026-01-01T00:00:00+00:00"
ALERTS = AlertsConfig(urls=["json://127.0.0.1:9/hook"])
ids = (f"fix-{i}" for i in count(1))


def ws(
    *drifted: str, outcome: str | None = None, status: WorkspaceStatus = WorkspaceStatus.SUCCEEDED
) -> WorkspaceReport:
    changes = [ResourceChange(address=a, action="update") for a in drifted]
    return WorkspaceReport(
        status=status,
        outcome=outcome or ("changes" if drifted else "no_changes"),
        changes=ChangeCounts(update=len(changes)),
        resources=changes,
        drift=changes,
        terraform_version="1.11.4",
    )


def fold(
    state: LedgerState,
    report: WorkspaceReport,
    *,
    trigger: str = "schedule",
    run_id: str = "check",
    mode: str = "plan",
    remediate: str | None = "propose",
    status: RunStatus = RunStatus.SUCCEEDED,
) -> list[str]:
    run = RunReport(run_id=run_id, config="c", mode=mode, status=status, trigger=trigger, workspaces={"vpc": report})
    rec = RecordRun(config="c", report=run, alerts=ALERTS, remediate={"vpc": remediate} if remediate else {},
                    state_dir="/srv/tfo")  # fmt: skip
    return [a.event.value for a in record_run(state, rec, NOW, new_run_id=lambda: next(ids))]


def test_drift_proposes_once_and_a_different_drift_supersedes() -> None:
    state = LedgerState(config="c")
    assert fold(state, ws("a.x")) == []  # the proposal's own alert follows its start
    (propose,) = state.actions
    proposal = state.workspaces["vpc"].proposal
    assert (propose.kind, propose.new_run_id, propose.run_id, propose.auto) == ("propose", proposal, "check", False)
    assert propose.state_dir == "/srv/tfo"
    state.actions.clear()
    assert fold(state, ws("a.x")) == [] and state.actions == []  # same drift: one open proposal
    assert state.workspaces["vpc"].proposal == proposal
    fold(state, ws("a.x", "a.y"))
    assert [(a.kind, a.run_id) for a in state.actions] == [("cancel", proposal), ("propose", "check")]
    assert state.workspaces["vpc"].proposal == state.actions[1].new_run_id != proposal


def test_resolved_drift_cancels_the_open_proposal() -> None:
    state = LedgerState(config="c")
    fold(state, ws("a.x"))
    proposal = state.workspaces["vpc"].proposal
    state.actions.clear()
    assert fold(state, ws()) == ["resolved"]
    assert [(a.kind, a.run_id) for a in state.actions] == [("cancel", proposal)]
    assert state.workspaces["vpc"].proposal is None


def test_only_a_scheduled_check_of_a_remediated_workspace_proposes() -> None:
    state = LedgerState(config="c")
    assert fold(state, ws("a.x"), remediate=None) == ["drift"]
    assert state.actions == []
    by_hand = LedgerState(config="c")
    assert fold(by_hand, ws("a.x"), trigger="cli", remediate="auto") == ["drift"]
    assert by_hand.actions == []


def test_auto_marks_its_proposal() -> None:
    state = LedgerState(config="c")
    fold(state, ws("a.x"), remediate="auto")
    assert state.actions[0].auto


def test_the_proposal_run_closes_it_applied_or_not() -> None:
    state = LedgerState(config="c")
    fold(state, ws("a.x"))
    proposal = state.workspaces["vpc"].proposal
    assert proposal is not None
    events = fold(state, ws(outcome="applied"), trigger="remediation", run_id=proposal, mode="apply")
    assert events == ["remediation_applied", "resolved"]
    assert state.workspaces["vpc"].proposal is None and state.workspaces["vpc"].status == DriftStatus.CLEAN

    fold(state, ws("a.x"))
    second = state.workspaces["vpc"].proposal
    assert second is not None and second != proposal
    failed = ws("a.x", status=WorkspaceStatus.FAILED).model_copy(update={"error": "boom"})
    events = fold(state, failed, trigger="remediation", run_id=second, mode="apply")
    assert events == [AlertEvent.REMEDIATION_FAILED.value]
    assert state.workspaces["vpc"].proposal is None
    # A superseded (cancelled) run closes nothing.
    fold(state, ws("a.x"))
    assert fold(state, ws("a.x"), trigger="remediation", run_id=second, mode="apply",
                status=RunStatus.CANCELLED) == []  # fmt: skip
    assert state.workspaces["vpc"].proposal is not None
