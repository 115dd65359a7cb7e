"""Drift truth on hand-built results: baselines, causes, noise rules, checks and history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tfo.activities.drift_noise import ignored_changes, rule_reason
from tfo.config.drift_config import AlertEvent, AlertsConfig, IgnoreRule
from tfo.config.drift_models import (
    MAX_LEDGER_TRANSITIONS,
    MAX_TRANSITIONS,
    DriftStatus,
    LedgerState,
    RecordRun,
)
from tfo.config.payloads import (
    AttributeChange,
    Baseline,
    ChangeCounts,
    CheckResult,
    IgnoredChange,
    ResourceChange,
    RunReport,
    WorkspaceReport,
    WorkspaceStatus,
)
from tfo.workflows.drift_classify import classify
from tfo.workflows.drift_rules import record_run

T0 = datetime(2026, 1, 1, tzinfo=UTC)
BASE = Baseline(code="c1", variables="v1", inputs="i1", versions="t1", state="s1")
HOOK = "json://127.0.0.1:9000/hook"


def ws(
    *resources: ResourceChange,
    drift: list[ResourceChange] | None = None,
    baseline: Baseline = BASE,
    outputs: list[str] | None = None,
    version: str = "1.11.4",
    **extra: object,
) -> WorkspaceReport:
    counts = ChangeCounts()
    for r in resources:
        setattr(counts, r.action, getattr(counts, r.action) + 1)
    changed = bool(resources or outputs)
    return WorkspaceReport(
        status=WorkspaceStatus.SUCCEEDED,
        outcome="changes" if changed else "no_changes",
        changes=counts,
        resources=list(resources),
        drift=drift or [],
        output_changes=outputs or [],
        terraform_version=version,
        baseline=baseline,
        **extra,  # type: ignore[arg-type]
    )


def rc(address: str = "filestore_object.a", action: str = "update", *paths: str) -> ResourceChange:
    return ResourceChange(
        address=address, action=action, attributes=[AttributeChange(path=p, before="x", after="y") for p in paths]
    )


def fold(st: LedgerState, i: int, **workspaces: WorkspaceReport) -> list[str]:
    now = (T0 + timedelta(minutes=15 * i)).isoformat()
    report = RunReport(run_id=f"r{i}", config="c", mode="plan", workspaces=workspaces, started_at=now, finished_at=now)
    alerts = record_run(st, RecordRun(config="c", report=report, alerts=AlertsConfig(urls=[HOOK])), now)
    return [a.title for a in alerts]


def settled(*workspaces: str) -> LedgerState:
    """A ledger whose workspaces had one clean check with BASE."""
    st = LedgerState(config="c")
    fold(st, 0, **{name: ws() for name in workspaces})
    return st


@pytest.mark.parametrize(
    ("changed", "cause"),
    [("code", "code"), ("variables", "variables"), ("inputs", "inputs"), ("versions", "versions")],
)
def test_changes_from_tfos_side_are_pending_not_drift(changed: str, cause: str) -> None:
    st = settled("vpc")
    titles = fold(st, 1, vpc=ws(rc(), baseline=BASE.model_copy(update={changed: "new"})))
    got = st.workspaces["vpc"]
    assert (got.status, got.cause, got.causes) == (DriftStatus.PENDING, cause, [cause])
    assert titles == ["Unapplied changes: c/vpc"]
    # Seen again: no second alert; since stays where it began.
    assert fold(st, 2, vpc=ws(rc(), baseline=BASE.model_copy(update={changed: "new"}))) == []
    assert st.workspaces["vpc"].since == (T0 + timedelta(minutes=15)).isoformat()


def test_output_only_edit_is_pending_with_its_outputs() -> None:
    st = settled("vpc")
    fold(st, 1, vpc=ws(outputs=["id"], baseline=BASE.model_copy(update={"code": "c2"})))
    got = st.workspaces["vpc"]
    assert got.status == DriftStatus.PENDING
    assert got.causes == ["code", "outputs_only"]
    assert got.output_changes == ["id"] and got.changes.total() == 0


def test_resource_drift_is_drifted_and_both_causes_are_listed() -> None:
    st = settled("vpc")
    titles = fold(st, 1, vpc=ws(rc(), drift=[rc()], baseline=BASE.model_copy(update={"code": "c2"})))
    got = st.workspaces["vpc"]
    assert got.status == DriftStatus.DRIFTED
    assert got.causes == ["out_of_band", "code"]
    assert titles == ["Drift detected: c/vpc"]


def test_changes_with_nothing_changed_on_tfos_side_are_state_drift() -> None:
    st = settled("vpc")
    fold(st, 1, vpc=ws(rc(action="create"), baseline=BASE.model_copy(update={"state": "s2"})))
    assert (st.workspaces["vpc"].status, st.workspaces["vpc"].cause) == (DriftStatus.DRIFTED, "state")


def test_terraform_1_0_unlisted_drift_is_out_of_band() -> None:
    st = LedgerState(config="c")
    fold(st, 0, vpc=ws(version="1.0.3"))
    fold(st, 1, vpc=ws(rc(), version="1.0.3"))
    assert (st.workspaces["vpc"].status, st.workspaces["vpc"].cause) == (DriftStatus.DRIFTED, "out_of_band")


def test_pending_to_drifted_and_back_alert_once_each() -> None:
    st = settled("vpc")
    pending = ws(rc(), baseline=BASE.model_copy(update={"code": "c2"}))
    drifted = ws(rc(), drift=[rc()], baseline=BASE.model_copy(update={"code": "c2"}))
    assert fold(st, 1, vpc=pending) == ["Unapplied changes: c/vpc"]
    assert fold(st, 2, vpc=drifted) == ["Drift detected: c/vpc"]
    assert fold(st, 3, vpc=pending) == ["Unapplied changes: c/vpc"]
    assert fold(st, 4, vpc=ws(baseline=BASE.model_copy(update={"code": "c2"}))) == []  # applied: quietly clean
    # The clean check set the new baseline: the same code is not pending any more.
    fold(st, 5, vpc=ws(rc(), baseline=BASE.model_copy(update={"code": "c2"})))
    assert st.workspaces["vpc"].status == DriftStatus.DRIFTED


def test_a_successful_apply_sets_the_baseline() -> None:
    st = settled("vpc")
    applied = ws(rc(), baseline=BASE.model_copy(update={"code": "c2"}))
    applied.outcome = "applied"
    fold(st, 1, vpc=applied)
    assert st.workspaces["vpc"].status == DriftStatus.CLEAN
    assert st.workspaces["vpc"].baseline == BASE.model_copy(update={"code": "c2", "state": ""})


def test_unknown_is_never_clean_and_sends_nothing() -> None:
    st = settled("vpc", "app")
    failed = WorkspaceReport(status=WorkspaceStatus.FAILED, error="Error: bad HCL")
    skipped = WorkspaceReport(status=WorkspaceStatus.SKIPPED, detail="upstream vpc did not succeed")
    assert fold(st, 1, vpc=failed, app=skipped) == ["Drift check failed: c/vpc"]
    assert st.workspaces["app"].status == DriftStatus.UNKNOWN
    assert st.workspaces["app"].reason == "upstream vpc did not succeed"
    # Back to clean: no "resolved" (it never drifted), and since restarts.
    assert fold(st, 2, vpc=ws(), app=ws()) == []
    assert st.workspaces["app"].since == (T0 + timedelta(minutes=30)).isoformat()


def test_a_newly_failing_check_alerts_once_and_the_status_stays_clean() -> None:
    st = settled("vpc")
    check = CheckResult(address="check.health", status="failed", messages=["endpoint down"])
    assert fold(st, 1, vpc=ws(checks=[check])) == ["Check failed: c/vpc"]
    assert st.workspaces["vpc"].status == DriftStatus.CLEAN
    assert fold(st, 2, vpc=ws(checks=[check])) == []


def test_ignored_changes_do_not_count_but_are_listed() -> None:
    st = settled("asg")
    change = rc("aws_autoscaling_group.web", "update", "desired_capacity")
    ignored = [IgnoredChange(address=change.address, reason="autoscaler"), IgnoredChange(
        address=change.address, reason="autoscaler", drift=True)]  # fmt: skip
    assert fold(st, 1, asg=ws(change, drift=[change], ignored=ignored)) == []
    got = st.workspaces["asg"]
    assert got.status == DriftStatus.CLEAN and len(got.ignored) == 2


def test_ignore_rules_never_hide_a_replace_delete_or_create() -> None:
    rule = IgnoreRule(resources=["aws_instance.*"], attributes=["tags"], reason="tags drift")
    whole = IgnoreRule(resources=["aws_instance.*"], reason="all of it")
    update = rc("aws_instance.a", "update", "tags.owner", "tags.team")
    assert rule_reason(update, [rule]) == "tags drift"
    assert rule_reason(rc("aws_instance.a", "update", "tags.owner", "ami"), [rule]) is None
    for action in ("replace", "delete", "create"):
        assert rule_reason(rc("aws_instance.a", action, "tags.owner"), [rule, whole]) is None
    assert rule_reason(update.model_copy(update={"truncated": True}), [rule]) is None
    assert rule_reason(rc("aws_instance.a", "update", "ami"), [whole]) == "all of it"


def test_drift_on_attributes_the_plan_does_not_use_is_irrelevant() -> None:
    drift = [rc("aws_instance.a", "update", "tags.scan"), rc("aws_instance.b", "update", "ami")]
    plan = {"relevant_attributes": [{"resource": "aws_instance.b", "attribute": ["ami"]}]}
    ignored = ignored_changes(plan, [], drift, [])
    assert [(i.address, i.reason, i.drift) for i in ignored] == [("aws_instance.a", "irrelevant", True)]
    assert ignored_changes({}, [], drift, []) == []  # terraform < 1.2 says nothing about relevance


def test_history_is_capped_per_workspace_and_in_total() -> None:
    st = LedgerState(config="c")
    for i in range(3 * MAX_TRANSITIONS):
        fold(st, i, vpc=ws() if i % 2 else ws(rc(), drift=[rc()]))
    items = st.history["vpc"]
    assert len(items) == MAX_TRANSITIONS
    assert items[-1].to_status == DriftStatus.CLEAN and items[-1].from_status == DriftStatus.DRIFTED
    assert [t.at for t in items] == sorted(t.at for t in items)
    many = [f"ws{i}" for i in range(MAX_LEDGER_TRANSITIONS // MAX_TRANSITIONS + 50)]
    for i in range(MAX_TRANSITIONS + 2):
        fold(st, 100 + i, **{n: (ws() if i % 2 else ws(rc(), drift=[rc()])) for n in many})
    assert sum(len(v) for v in st.history.values()) == MAX_LEDGER_TRANSITIONS
    assert all(len(v) <= MAX_TRANSITIONS for v in st.history.values())


def test_check_failed_event_is_a_configurable_alert_event() -> None:
    assert AlertEvent("check_failed") == AlertEvent.CHECK_FAILED
    assert AlertEvent("pending") in AlertsConfig(urls=[HOOK]).on


def test_first_check_without_a_baseline_uses_terraforms_word() -> None:
    result = classify(ws(rc(), baseline=BASE), None, mode="plan", run_id="r", now=T0.isoformat())
    assert result is not None and result.status == DriftStatus.PENDING  # no resource drift listed on 1.11
    old = classify(ws(rc(), version="1.0.3"), None, mode="plan", run_id="r", now=T0.isoformat())
    assert old is not None and old.status == DriftStatus.DRIFTED and old.cause == "unknown"


def test_recreations_right_after_an_apply_are_state_drift() -> None:
    """An apply records no state digest: resources to re-create are still told as `state`."""
    st = settled("dns")
    applied = ws(rc(), baseline=BASE)
    applied.outcome = "applied"
    fold(st, 1, dns=applied)
    fold(st, 2, dns=ws(rc("null_resource.record", "create"), version="1.0.3", baseline=BASE))
    assert (st.workspaces["dns"].status, st.workspaces["dns"].cause) == (DriftStatus.DRIFTED, "state")


def test_every_alert_event_has_an_apprise_type() -> None:
    from tfo.activities.alerts import _TYPES

    assert set(_TYPES) == set(AlertEvent)
