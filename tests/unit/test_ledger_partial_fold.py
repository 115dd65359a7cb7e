"""Folding a record part with only the records it touches opened (the ledger's way)
gives exactly what folding it into the whole shard in memory gives: the same alerts,
the same records and history, the shard-wide bounds included."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from tfo.config.drift_config import AlertsConfig
from tfo.config.drift_models import DriftStatus, LedgerState, RecordRun
from tfo.config.payloads import AttributeChange, Baseline, ResourceChange, RunReport, WorkspaceReport, WorkspaceStatus
from tfo.workflows import drift_rules
from tfo.workflows.ledger_rest import RecordsAtRest

T0 = datetime(2026, 1, 1, tzinfo=UTC)
NAMES = [f"w{i:02d}" for i in range(30)]
# Each workspace reads an output of the one before it in its group of five.
CONSUMES = {n: [(NAMES[i - 1], "id")] for i, n in enumerate(NAMES) if i % 5}


def _workspace(rng: random.Random) -> WorkspaceReport:
    base = Baseline(code="c1", variables="v1", inputs="i1", versions="t1", state="s1")
    roll = rng.random()
    if roll < 0.15:
        return WorkspaceReport(status=WorkspaceStatus.FAILED, error="terraform plan failed")
    if roll < 0.55:
        value = "x" * rng.choice([10, 400, 3000])
        drifted = ResourceChange(
            address=f"filestore_object.f{rng.randrange(3)}",
            action="update",
            attributes=[AttributeChange(path="content", before=value, after=value[::-1] + "y")],
        )
        return WorkspaceReport(
            status=WorkspaceStatus.SUCCEEDED,
            outcome="changes",
            resources=[drifted],
            drift=[drifted],
            terraform_version="1.11.4",
            baseline=base,
        )
    return WorkspaceReport(
        status=WorkspaceStatus.SUCCEEDED, outcome="no_changes", terraform_version="1.11.4", baseline=base
    )


def _records(seed: int, runs: int) -> list[RecordRun]:
    rng = random.Random(seed)
    out = []
    for i in range(runs):
        at = (T0 + timedelta(minutes=15 * i)).isoformat()
        names = rng.sample(NAMES, rng.randint(1, 12))
        report = RunReport(
            run_id=f"r{i}",
            config="c",
            mode="plan",
            workspaces={n: _workspace(rng) for n in sorted(names)},
            started_at=at,
            finished_at=at,
        )
        consumes = {n: CONSUMES[n] for n in names if n in CONSUMES}
        alerts = AlertsConfig(urls=["json://127.0.0.1:9/hook"])
        out.append(RecordRun(config="c", report=report, consumes=consumes, alerts=alerts))
    return out


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("tight", [False, True], ids=["within-bounds", "bounds-exceeded"])
def test_a_partial_fold_is_the_whole_shard_fold(seed: int, tight: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    if tight:  # small shard bounds, so that trimming and diff truncation happen often
        monkeypatch.setattr(drift_rules, "SHARD_DIFF_BYTES", 8 * 1024)
        monkeypatch.setattr(drift_rules, "MAX_LEDGER_TRANSITIONS", 40)
    whole, partial = LedgerState(config="c"), LedgerState(config="c")
    rest = RecordsAtRest()
    rest.take(partial)
    opened_most = 0
    for i, rec in enumerate(_records(seed, 120)):
        now = (T0 + timedelta(minutes=15 * i, seconds=30)).isoformat()
        expected = drift_rules.record_run(whole, rec, now)
        with rest.opened(partial, drift_rules.touched(rec)) as opened:
            opened_most = max(opened_most, len(opened.workspaces))
            got = drift_rules.record_run(opened, rec, now, bound=False)
        if not drift_rules.within_bounds(rest.diff_bytes(), rest.transitions()):
            with rest.opened(partial):
                drift_rules.bound_shard(partial)
        assert [a.model_dump() for a in got] == [a.model_dump() for a in expected], i
    assert rest.restore(partial).model_dump() == whole.model_dump()
    assert opened_most < len(NAMES)  # the folds did not open the whole shard
    assert rest.drifted() == {n for n, ws in whole.workspaces.items() if ws.status == DriftStatus.DRIFTED}
    if tight:  # the bounds did act
        assert sum(len(v) for v in whole.history.values()) <= 40
        assert any(ws.diff_truncated for ws in whole.workspaces.values())
