"""The pure rules of drift tracking (workflows/drift_rules.py), on hand-built run reports.

No Temporal and no terraform: a RunReport is folded into a LedgerState exactly as the
drift ledger does it, and the returned alerts are checked.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tfo.config.drift_config import AlertEvent, AlertsConfig
from tfo.config.drift_models import (
    RUN_DURATION_BUCKETS,
    AlertRequest,
    DriftStatus,
    Histogram,
    LedgerState,
    RecordRun,
    WorkspaceDrift,
)
from tfo.config.payloads import (
    SENSITIVE,
    ChangeCounts,
    ResourceChange,
    RunReport,
    RunStatus,
    WorkspaceReport,
    WorkspaceStatus,
)
from tfo.workflows.drift_alerts import MAX_LISTED, make_alert
from tfo.workflows.drift_classify import classify
from tfo.workflows.drift_rules import due_reminders, record_run, transition

CONFIG = "prod"
NOW = "2024-05-01T12:00:00+00:00"
UI = "http://localhost:8233/"
HOOK = "json://127.0.0.1:9000/hook"

# --- builders -------------------------------------------------------------------------


def rc(address: str, action: str = "update") -> ResourceChange:
    return ResourceChange(address=address, action=action)


def drifted_ws(
    *resources: ResourceChange,
    drift: list[ResourceChange] | None = None,
    outputs: list[str] | None = None,
    version: str | None = "1.5.7",
) -> WorkspaceReport:
    counts = ChangeCounts()
    for r in resources:
        setattr(counts, r.action, getattr(counts, r.action) + 1)
    return WorkspaceReport(
        status=WorkspaceStatus.SUCCEEDED,
        operation="plan",
        outcome="changes",
        changes=counts,
        resources=list(resources),
        # By default terraform lists the changed resources as drift: a real out-of-band change.
        drift=list(resources) if drift is None else drift,
        output_changes=outputs or [],
        terraform_version=version,
    )


def clean_ws(version: str | None = "1.5.7") -> WorkspaceReport:
    return WorkspaceReport(status=WorkspaceStatus.SUCCEEDED, outcome="no_changes", terraform_version=version)


def failed_ws(error: str = "Error: Invalid provider configuration") -> WorkspaceReport:
    return WorkspaceReport(status=WorkspaceStatus.FAILED, error=error, error_type="TerraformFailed")


def run_report(
    run_id: str = "run-1",
    *,
    mode: str = "plan",
    started: str | None = None,
    finished: str | None = None,
    **workspaces: WorkspaceReport,
) -> RunReport:
    return RunReport(
        run_id=run_id,
        config=CONFIG,
        mode=mode,  # type: ignore[arg-type]
        status=RunStatus.SUCCEEDED,
        trigger="schedule",
        workspaces=workspaces,
        started_at=started,
        finished_at=finished,
    )


def alerts_config(*on: AlertEvent, remind: timedelta | None = None) -> AlertsConfig:
    return AlertsConfig(urls=[HOOK], on=list(on) if on else list(AlertEvent), remind_every=remind)


def rec(
    report: RunReport,
    *,
    alerts: AlertsConfig | None = None,
    ui_url: str | None = UI,
    consumes: dict[str, list[tuple[str, str]]] | None = None,
) -> RecordRun:
    return RecordRun(
        config=CONFIG,
        report=report,
        alerts=alerts if alerts is not None else alerts_config(),
        ui_url=ui_url,
        namespace="default",
        consumes=consumes or {},
    )


def state() -> LedgerState:
    return LedgerState(config=CONFIG)


# --- classify -------------------------------------------------------------------------


def test_classify_succeeded_with_changes_is_drifted() -> None:
    ws = drifted_ws(rc("null_resource.a"), rc("null_resource.b", "delete"), outputs=["id"])
    result = classify(ws, None, mode="plan", run_id="r1", now=NOW)
    assert result is not None
    assert result.status == DriftStatus.DRIFTED
    assert result.changes == ChangeCounts(update=1, delete=1)
    assert [r.address for r in result.resources] == ["null_resource.a", "null_resource.b"]
    assert result.output_changes == ["id"]
    assert result.run_id == "r1"
    assert result.checked_at == NOW


def test_classify_no_changes_is_clean() -> None:
    result = classify(clean_ws(), None, mode="plan", run_id="r1", now=NOW)
    assert result is not None
    assert result.status == DriftStatus.CLEAN
    assert result.cause is None
    assert result.changes.total() == 0
    assert result.resources == []


def test_classify_failed_plan_is_errored_never_clean() -> None:
    result = classify(failed_ws("Error: boom"), None, mode="plan", run_id="r1", now=NOW)
    assert result is not None
    assert result.status == DriftStatus.ERRORED
    assert result.error == "Error: boom"


@pytest.mark.parametrize(
    ("ws", "mode"),
    [
        (failed_ws(), "apply"),
        (WorkspaceReport(status=WorkspaceStatus.CANCELLED), "plan"),
        (WorkspaceReport(status=WorkspaceStatus.SKIPPED), "apply"),
        (WorkspaceReport(status=WorkspaceStatus.CANCELLED), "apply"),
    ],
    ids=["failed-apply", "cancelled-plan", "skipped-apply", "cancelled-apply"],
)
def test_classify_ignores_runs_that_did_not_check(ws: WorkspaceReport, mode: str) -> None:
    assert classify(ws, None, mode=mode, run_id="r1", now=NOW) is None


def test_skipped_in_a_check_is_unknown_with_its_reason_never_clean() -> None:
    ws = WorkspaceReport(status=WorkspaceStatus.SKIPPED, detail="upstream vpc did not succeed")
    result = classify(ws, None, mode="plan", run_id="r1", now=NOW)
    assert result is not None
    assert result.status == DriftStatus.UNKNOWN
    assert result.reason == "upstream vpc did not succeed"


# --- cause ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ws", "cause"),
    [
        (drifted_ws(rc("null_resource.a"), drift=[rc("null_resource.a", "delete")], version="1.0.3"), "out_of_band"),
        (drifted_ws(rc("null_resource.a"), drift=[rc("null_resource.a", "delete")]), "out_of_band"),
        (drifted_ws(outputs=["id"], version="1.0.3"), "outputs_only"),
        (drifted_ws(outputs=["id"]), "outputs_only"),
        (drifted_ws(rc("null_resource.a", "create"), drift=[], version="1.0.3"), "unknown"),
        (drifted_ws(rc("null_resource.a", "create"), drift=[], version="1.0.11"), "unknown"),
        (drifted_ws(rc("null_resource.a", "create"), drift=[], version=None), "unknown"),
        (drifted_ws(rc("null_resource.a", "create"), drift=[], version="1.1.0"), "unknown"),
        (drifted_ws(rc("null_resource.a", "create"), drift=[], version="1.10.2"), "unknown"),
    ],
    ids=[
        "drift-listed-1.0",
        "drift-listed-1.5",
        "outputs-only-1.0",
        "outputs-only-1.5",
        "tf-1.0.3",
        "tf-1.0.11",
        "tf-unknown-version",
        "tf-1.1",
        "tf-1.10",
    ],
)
def test_cause(ws: WorkspaceReport, cause: str) -> None:
    """With no baseline yet, only terraform's own word counts."""
    result = classify(ws, None, mode="plan", run_id="r1", now=NOW)
    assert result is not None
    assert result.cause == cause
    if not ws.drift and ws.changes.total():
        # Terraform >= 1.1 lists out-of-band changes: without any, the changes are unapplied.
        expected = DriftStatus.PENDING if (ws.terraform_version or "").startswith("1.1") else DriftStatus.DRIFTED
        assert result.status == expected


# --- transitions ----------------------------------------------------------------------


def _fold(st: LedgerState, run_id: str, ws: WorkspaceReport, **kw: object) -> list[AlertRequest]:
    return record_run(st, rec(run_report(run_id, vpc=ws), **kw), NOW)  # type: ignore[arg-type]


def test_first_clean_check_sends_nothing() -> None:
    st = state()
    assert _fold(st, "r1", clean_ws()) == []
    assert st.workspaces["vpc"].status == DriftStatus.CLEAN


def test_new_drift_alerts_once() -> None:
    st = state()
    _fold(st, "r1", clean_ws())
    alerts = _fold(st, "r2", drifted_ws(rc("null_resource.a")))
    assert [a.event for a in alerts] == [AlertEvent.DRIFT]
    assert alerts[0].workspace == "vpc"
    assert alerts[0].urls == [HOOK]


def test_first_check_already_drifted_alerts() -> None:
    alerts = _fold(state(), "r1", drifted_ws(rc("null_resource.a")))
    assert [a.event for a in alerts] == [AlertEvent.DRIFT]


def test_same_drift_again_sends_nothing() -> None:
    st = state()
    _fold(st, "r1", drifted_ws(rc("null_resource.a")))
    assert _fold(st, "r2", drifted_ws(rc("null_resource.a"))) == []
    assert _fold(st, "r3", drifted_ws(rc("null_resource.a"))) == []
    assert st.workspaces["vpc"].run_id == "r3"


def test_resource_order_does_not_make_a_different_drift() -> None:
    st = state()
    _fold(st, "r1", drifted_ws(rc("null_resource.a"), rc("null_resource.b")))
    assert _fold(st, "r2", drifted_ws(rc("null_resource.b"), rc("null_resource.a"))) == []


@pytest.mark.parametrize(
    "second",
    [
        drifted_ws(rc("null_resource.a"), rc("null_resource.b")),
        drifted_ws(rc("null_resource.b")),
        drifted_ws(rc("null_resource.a", "delete")),
        drifted_ws(rc("null_resource.a"), outputs=["id"]),
    ],
    ids=["one-more", "other-resource", "other-action", "output-too"],
)
def test_different_drift_alerts_changed(second: WorkspaceReport) -> None:
    st = state()
    _fold(st, "r1", drifted_ws(rc("null_resource.a")))
    alerts = _fold(st, "r2", second)
    assert [a.event for a in alerts] == [AlertEvent.CHANGED]
    assert alerts[0].title == f"Drift changed: {CONFIG}/vpc"


def test_drift_fixed_alerts_resolved() -> None:
    st = state()
    _fold(st, "r1", drifted_ws(rc("null_resource.a")))
    alerts = _fold(st, "r2", clean_ws())
    assert [a.event for a in alerts] == [AlertEvent.RESOLVED]
    assert alerts[0].title == f"Drift resolved: {CONFIG}/vpc"
    assert st.workspaces["vpc"].status == DriftStatus.CLEAN
    # Resolved stays resolved.
    assert _fold(st, "r3", clean_ws()) == []


@pytest.mark.parametrize("before", [None, "clean", "drifted"])
def test_failed_check_alerts_failure_once(before: str | None) -> None:
    st = state()
    if before == "clean":
        _fold(st, "r0", clean_ws())
    elif before == "drifted":
        _fold(st, "r0", drifted_ws(rc("null_resource.a")))
    alerts = _fold(st, "r1", failed_ws())
    assert [a.event for a in alerts] == [AlertEvent.FAILURE]
    assert alerts[0].title == f"Drift check failed: {CONFIG}/vpc"
    assert "Invalid provider configuration" in alerts[0].body
    assert st.workspaces["vpc"].status == DriftStatus.ERRORED
    assert _fold(st, "r2", failed_ws()) == []
    assert _fold(st, "r3", failed_ws("Error: another error")) == []


def test_failed_check_then_clean_sends_nothing() -> None:
    st = state()
    _fold(st, "r1", clean_ws())
    _fold(st, "r2", failed_ws())
    assert _fold(st, "r3", clean_ws()) == []


def test_drift_resolved_while_a_check_failed_is_still_reported() -> None:
    """drifted -> errored -> clean: the drift was announced, so its end must be too."""
    st = state()
    _fold(st, "r1", drifted_ws(rc("null_resource.a")))
    _fold(st, "r2", failed_ws())
    alerts = _fold(st, "r3", clean_ws())
    assert [a.event for a in alerts] == [AlertEvent.RESOLVED]


def test_same_drift_after_a_failed_check_is_not_announced_again() -> None:
    st = state()
    _fold(st, "r1", drifted_ws(rc("null_resource.a")))
    _fold(st, "r2", failed_ws())
    _fold(st, "r3", failed_ws())
    assert _fold(st, "r4", drifted_ws(rc("null_resource.a"))) == []
    # ...but a different drift after the failure is.
    _fold(st, "r5", failed_ws())
    assert [a.event for a in _fold(st, "r6", drifted_ws(rc("null_resource.b")))] == [AlertEvent.CHANGED]


def test_new_drift_after_a_failed_first_check_is_announced() -> None:
    st = state()
    _fold(st, "r1", failed_ws())
    assert [a.event for a in _fold(st, "r2", drifted_ws(rc("null_resource.a")))] == [AlertEvent.DRIFT]


def test_failed_apply_and_skipped_workspaces_keep_their_drift_state() -> None:
    st = state()
    _fold(st, "r1", drifted_ws(rc("null_resource.a")))
    assert record_run(st, rec(run_report("r2", mode="apply", vpc=failed_ws())), NOW) == []
    assert st.workspaces["vpc"].status == DriftStatus.DRIFTED
    assert st.workspaces["vpc"].run_id == "r1"
    # A check that could not reach it: unknown (no alert), remembering the drift it had.
    skipped = WorkspaceReport(status=WorkspaceStatus.SKIPPED, detail="upstream net did not succeed")
    assert record_run(st, rec(run_report("r3", vpc=skipped)), NOW) == []
    assert st.workspaces["vpc"].status == DriftStatus.UNKNOWN
    assert st.workspaces["vpc"].settled_status == DriftStatus.DRIFTED
    assert st.checks_total == {"vpc": {"drifted": 1, "unknown": 1}}
    # The same drift seen again is not announced again.
    assert _fold(st, "r4", drifted_ws(rc("null_resource.a"))) == []


def test_transition_table() -> None:
    def wd(status: DriftStatus, *resources: ResourceChange) -> WorkspaceDrift:
        return WorkspaceDrift(status=status, resources=list(resources), checked_at=NOW, run_id="r")

    a, b = rc("x.a"), rc("x.b")
    clean, errored = wd(DriftStatus.CLEAN), wd(DriftStatus.ERRORED)
    assert transition(None, clean) is None
    assert transition(None, wd(DriftStatus.DRIFTED, a)) == AlertEvent.DRIFT
    assert transition(None, errored) == AlertEvent.FAILURE
    assert transition(clean, clean) is None
    assert transition(clean, wd(DriftStatus.DRIFTED, a)) == AlertEvent.DRIFT
    assert transition(wd(DriftStatus.DRIFTED, a), wd(DriftStatus.DRIFTED, a)) is None
    assert transition(wd(DriftStatus.DRIFTED, a), wd(DriftStatus.DRIFTED, a, b)) == AlertEvent.CHANGED
    assert transition(wd(DriftStatus.DRIFTED, a), clean) == AlertEvent.RESOLVED
    assert transition(wd(DriftStatus.DRIFTED, a), errored) == AlertEvent.FAILURE
    assert transition(errored, errored) is None


# --- alert filtering and content -------------------------------------------------------


def test_alerts_are_filtered_by_on() -> None:
    only_resolved = alerts_config(AlertEvent.RESOLVED)
    st = state()
    assert _fold(st, "r1", drifted_ws(rc("null_resource.a")), alerts=only_resolved) == []
    assert _fold(st, "r2", drifted_ws(rc("null_resource.b")), alerts=only_resolved) == []
    assert _fold(st, "r3", failed_ws(), alerts=only_resolved) == []
    _fold(st, "r4", drifted_ws(rc("null_resource.b")), alerts=only_resolved)
    resolved = _fold(st, "r5", clean_ws(), alerts=only_resolved)
    assert [a.event for a in resolved] == [AlertEvent.RESOLVED]


def test_drift_alert_content() -> None:
    ws = drifted_ws(
        rc("null_resource.a", "create"),
        rc("null_resource.b", "update"),
        rc("null_resource.c", "delete"),
        rc("module.db.null_resource.d", "replace"),
        drift=[rc("null_resource.c", "delete")],
        outputs=["db_endpoint"],
    )
    [alert] = record_run(state(), rec(run_report("run-7f3a", vpc=ws)), NOW)
    assert alert.title == f"Drift detected: {CONFIG}/vpc"
    assert alert.event == AlertEvent.DRIFT
    body = alert.body
    assert "1 to create, 1 to update, 1 to delete, 1 to replace" in body
    for address in ("null_resource.a", "null_resource.b", "null_resource.c", "module.db.null_resource.d"):
        assert address in body
    assert "+ null_resource.a" in body
    assert "-/+ module.db.null_resource.d" in body
    assert "changed outside terraform:\n  - null_resource.c" in body
    assert "causes: out of band" in body
    assert "db_endpoint" in body
    assert "run-7f3a" in body
    assert "http://localhost:8233/namespaces/default/workflows/run-7f3a" in body


def test_alert_has_no_link_without_ui_url() -> None:
    [alert] = record_run(state(), rec(run_report("run-9", vpc=drifted_ws(rc("x.a"))), ui_url=None), NOW)
    assert "run-9" in alert.body
    assert "http" not in alert.body


def test_alert_link_uses_the_namespace() -> None:
    record = rec(run_report("run-9", vpc=drifted_ws(rc("x.a"))))
    record.namespace = "infra"
    [alert] = record_run(state(), record, NOW)
    assert f"{UI}namespaces/infra/workflows/run-9" in alert.body


def test_long_resource_lists_are_truncated() -> None:
    many = [rc(f"null_resource.r{i:03d}", "create") for i in range(MAX_LISTED + 5)]
    [alert] = record_run(state(), rec(run_report(vpc=drifted_ws(*many))), NOW)
    assert f"{MAX_LISTED + 5} to create" in alert.body
    assert "null_resource.r000" in alert.body
    assert f"null_resource.r{MAX_LISTED:03d}" not in alert.body
    assert "... and 5 more" in alert.body


def test_no_alert_when_alerts_are_not_configured() -> None:
    st = state()
    record = RecordRun(config=CONFIG, report=run_report(vpc=drifted_ws(rc("x.a"))), alerts=None, ui_url=UI)
    assert record_run(st, record, NOW) == []
    assert st.workspaces["vpc"].status == DriftStatus.DRIFTED
    assert st.workspaces["vpc"].last_alert_at is None
    assert make_alert(st, record, "vpc", st.workspaces["vpc"], AlertEvent.DRIFT) is None


def test_removing_alerts_from_the_config_stops_alerts() -> None:
    st = state()
    _fold(st, "r1", drifted_ws(rc("x.a")))
    record = RecordRun(config=CONFIG, report=run_report("r2", vpc=clean_ws()), alerts=None)
    assert record_run(st, record, NOW) == []


def test_alert_urls_stay_templates() -> None:
    cfg = AlertsConfig(urls=["slack://${SLACK_TOKEN}/#ops"])
    [alert] = record_run(state(), rec(run_report(vpc=drifted_ws(rc("x.a"))), alerts=cfg), NOW)
    assert alert.urls == ["slack://${SLACK_TOKEN}/#ops"]


def test_sensitive_values_never_reach_an_alert() -> None:
    """Alerts are built from addresses, actions, counts and output names only."""
    secret = "hunter2-s3cr3t-Xy9"
    ws = drifted_ws(rc("aws_db_instance.main"), outputs=["db_password"])
    # Even if a value slipped into a report's outputs, it is never read for alerts.
    ws.outputs = {"db_password": secret, "masked": SENSITIVE, "nested": {"token": secret}}
    upstream = drifted_ws(rc("random_password.db", "replace"), outputs=["password"])
    upstream.outputs = {"password": secret}
    st = state()
    record = rec(run_report(vpc=ws, db=upstream), consumes={"vpc": [("db", "password")]})
    alerts = record_run(st, record, NOW)
    alerts += record_run(st, rec(run_report("r2", vpc=clean_ws(), db=clean_ws())), NOW)
    assert {a.event for a in alerts} == {AlertEvent.DRIFT, AlertEvent.RESOLVED}
    for alert in alerts:
        assert secret not in alert.title
        assert secret not in alert.body
        assert secret not in alert.model_dump_json()
    # The ledger state (and so `tfo drift` and /metrics) does not keep output values either.
    assert secret not in st.model_dump_json()


# --- at_risk ----------------------------------------------------------------------------


def test_at_risk_when_an_input_comes_from_a_drifting_output() -> None:
    st = state()
    report = run_report(
        vpc=drifted_ws(rc("null_resource.vpc"), outputs=["vpc_id"]),
        subnets=clean_ws(),
        dns=clean_ws(),
    )
    consumes = {"subnets": [("vpc", "vpc_id")], "dns": [("vpc", "region")]}
    record_run(st, rec(report, consumes=consumes), NOW)
    assert st.workspaces["subnets"].at_risk is True
    assert st.workspaces["subnets"].at_risk_from == ["vpc.vpc_id"]
    # Any output of a drifted upstream: the real objects behind it changed.
    assert st.workspaces["dns"].at_risk_from == ["vpc.region"]
    assert st.workspaces["vpc"].at_risk is False
    # Once the upstream is clean again, nothing is at risk.
    record_run(st, rec(run_report("r2", vpc=clean_ws(), subnets=clean_ws(), dns=clean_ws()), consumes=consumes), NOW)
    assert not any(ws.at_risk for ws in st.workspaces.values())


def test_at_risk_uses_the_upstream_state_from_an_earlier_run() -> None:
    st = state()
    record_run(st, rec(run_report("r1", vpc=drifted_ws(rc("null_resource.vpc"), outputs=["vpc_id"]))), NOW)
    record_run(st, rec(run_report("r2", subnets=clean_ws()), consumes={"subnets": [("vpc", "vpc_id")]}), NOW)
    assert st.workspaces["subnets"].at_risk_from == ["vpc.vpc_id"]


def test_not_at_risk_when_the_upstream_is_clean() -> None:
    st = state()
    record_run(
        st,
        rec(run_report(vpc=clean_ws(), subnets=clean_ws()), consumes={"subnets": [("vpc", "vpc_id")]}),
        NOW,
    )
    assert st.workspaces["subnets"].at_risk is False
    assert st.workspaces["subnets"].at_risk_from == []


def test_at_risk_is_named_in_a_drift_alert() -> None:
    report = run_report(
        vpc=drifted_ws(rc("null_resource.vpc"), outputs=["vpc_id"]),
        subnets=drifted_ws(rc("null_resource.subnet")),
    )
    alerts = record_run(state(), rec(report, consumes={"subnets": [("vpc", "vpc_id")]}), NOW)
    subnets = next(a for a in alerts if a.workspace == "subnets")
    assert "inputs from drifted outputs: vpc.vpc_id" in subnets.body


# --- counters and histograms -------------------------------------------------------------


def test_checks_total_counts_each_result() -> None:
    st = state()
    record_run(st, rec(run_report("r1", vpc=clean_ws(), eks=drifted_ws(rc("x.a")))), NOW)
    record_run(st, rec(run_report("r2", vpc=clean_ws(), eks=failed_ws())), NOW)
    record_run(st, rec(run_report("r3", vpc=drifted_ws(rc("x.b")), eks=failed_ws())), NOW)
    record_run(st, rec(run_report("r4", mode="apply", vpc=failed_ws())), NOW)  # not a check
    assert st.checks_total == {
        "vpc": {"clean": 2, "drifted": 1},
        "eks": {"drifted": 1, "errored": 2},
    }
    assert st.records == 4


def test_run_durations_by_mode() -> None:
    st = state()
    start = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)

    def timed(run_id: str, seconds: float, mode: str = "plan") -> RecordRun:
        return rec(
            run_report(
                run_id,
                mode=mode,
                started=start.isoformat(),
                finished=(start + timedelta(seconds=seconds)).isoformat(),
                vpc=clean_ws(),
            )
        )

    record_run(st, timed("r1", 0.5), NOW)
    record_run(st, timed("r2", 7.0), NOW)
    record_run(st, timed("r3", 5000.0), NOW)
    record_run(st, timed("r4", 45.0, mode="apply"), NOW)
    record_run(st, rec(run_report("r5", vpc=clean_ws())), NOW)  # no timestamps: not observed

    plan = st.run_durations["plan"]
    assert plan.count == 3
    assert plan.total == pytest.approx(5007.5)
    # Buckets are cumulative, like Prometheus's `le` buckets.
    expected = [sum(1 for s in (0.5, 7.0, 5000.0) if s <= bound) for bound in RUN_DURATION_BUCKETS]
    assert plan.buckets == expected
    assert plan.buckets[0] == 1  # le=1
    assert plan.buckets[RUN_DURATION_BUCKETS.index(10.0)] == 2
    assert plan.buckets[-1] == 2  # 5000 s is above the last bound: only in +Inf (count)
    apply = st.run_durations["apply"]
    assert (apply.count, apply.total) == (1, 45.0)
    assert apply.buckets[RUN_DURATION_BUCKETS.index(30.0)] == 0
    assert apply.buckets[RUN_DURATION_BUCKETS.index(60.0)] == 1


def test_histogram_bucket_edges_are_inclusive() -> None:
    hist = Histogram()
    for bound in RUN_DURATION_BUCKETS:
        hist.observe(bound)
    assert hist.buckets == list(range(1, len(RUN_DURATION_BUCKETS) + 1))
    assert hist.count == len(RUN_DURATION_BUCKETS)


# --- reminders ---------------------------------------------------------------------------


def test_due_reminders_respect_remind_every() -> None:
    t0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    cfg = alerts_config(remind=timedelta(hours=24))
    st = state()
    report = run_report("r1", vpc=drifted_ws(rc("x.a")), eks=clean_ws(), dns=failed_ws())
    alerts = record_run(st, rec(report, alerts=cfg), t0.isoformat())
    assert {a.workspace for a in alerts} == {"vpc", "dns"}
    assert st.workspaces["vpc"].last_alert_at == t0.isoformat()

    assert due_reminders(st, t0 + timedelta(hours=23, minutes=59)) == []
    due = due_reminders(st, t0 + timedelta(hours=24))
    assert [name for name, _ in due] == ["vpc"]  # only drift is reminded of, not clean or errored

    # The same drift seen again does not reset the reminder clock.
    record_run(st, rec(run_report("r2", vpc=drifted_ws(rc("x.a"))), alerts=cfg), (t0 + timedelta(hours=6)).isoformat())
    assert st.workspaces["vpc"].last_alert_at == t0.isoformat()
    assert [n for n, _ in due_reminders(st, t0 + timedelta(hours=24))] == ["vpc"]

    [(name, ws)] = due
    reminder = make_alert(st, None, name, ws, AlertEvent.DRIFT, reminder=True)
    assert reminder is not None
    assert reminder.title == f"Drift still present: {CONFIG}/vpc"
    assert "x.a" in reminder.body


def test_no_reminders_without_remind_every() -> None:
    st = state()
    t0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    record_run(st, rec(run_report(vpc=drifted_ws(rc("x.a")))), t0.isoformat())
    assert due_reminders(st, t0 + timedelta(days=365)) == []


def test_no_reminders_when_drift_was_never_alerted() -> None:
    cfg = alerts_config(AlertEvent.RESOLVED, remind=timedelta(minutes=5))
    st = state()
    t0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    assert record_run(st, rec(run_report(vpc=drifted_ws(rc("x.a"))), alerts=cfg), t0.isoformat()) == []
    assert due_reminders(st, t0 + timedelta(days=1)) == []


def test_state_survives_a_round_trip() -> None:
    """The ledger continues as new with its state: nothing may be lost in serialisation."""
    st = state()
    t0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    cfg = alerts_config(remind=timedelta(hours=1))
    record_run(st, rec(run_report("r1", vpc=drifted_ws(rc("x.a")), eks=failed_ws()), alerts=cfg), t0.isoformat())
    copy = LedgerState.model_validate_json(st.model_dump_json())
    assert copy == st
    assert record_run(copy, rec(run_report("r2", vpc=drifted_ws(rc("x.a"))), alerts=cfg), NOW) == []


def test_a_shard_keeps_its_attribute_diffs_bounded_however_many_workspaces_drift() -> None:
    from tfo.config.payloads import AttributeChange
    from tfo.config.plan_models import diff_bytes
    from tfo.workflows.drift_rules import SHARD_DIFF_BYTES

    def big(i: int) -> ResourceChange:
        attrs = [AttributeChange(path=f"tags.k{j}", before="a" * 100, after="b" * 100) for j in range(20)]
        return ResourceChange(address=f"aws_instance.w{i}", action="update", attributes=attrs)

    state = LedgerState(config=CONFIG)
    reports = {f"w{i:02d}": drifted_ws(big(i)) for i in range(40)}  # ~9 KB of diff each: ~4x the budget
    record_run(state, rec(run_report(**reports)), NOW)
    held = diff_bytes(a for ws in state.workspaces.values() for r in (*ws.resources, *ws.drift) for a in r.attributes)
    assert 0 < held <= SHARD_DIFF_BYTES
    stripped = [n for n, ws in state.workspaces.items() if ws.diff_truncated]
    assert 25 <= len(stripped) < 40
    for i in range(40):  # which resources drifted, and so each drift's fingerprint, is kept
        ws = state.workspaces[f"w{i:02d}"]
        assert ws.status == DriftStatus.DRIFTED and [r.address for r in ws.drift] == [f"aws_instance.w{i}"]
