"""The drift ledger's shards: stable placement, one merged report, a cached scrape."""

from __future__ import annotations

import asyncio
import itertools
import time

from tfo.config.drift_models import DriftReport, DriftStatus, Histogram, WorkspaceDrift
from tfo.config.errors import RunError
from tfo.config.ledger_shards import LEDGER_SHARDS, config_shards, ledger_shard, merge_reports
from tfo.config.payloads import RunReport, RunStatus, WorkspaceReport, WorkspaceStatus
from tfo.daemon.drift_cache import BUSY_SHARE, DriftCache
from tfo.daemon.metrics import ConfigGauges
from tfo.workflows.run_report import ledger_parts


def drift(status: DriftStatus, consumes: list[str] | None = None) -> WorkspaceDrift:
    return WorkspaceDrift(status=status, checked_at="2026-01-01T00:00:00+00:00", run_id="r", consumes=consumes or [])


def test_a_workspace_stays_in_its_shard_whatever_else_the_config_holds() -> None:
    names = [f"ws{i}" for i in range(10_000)]
    before = {n: ledger_shard(n) for n in names[:100]}
    assert {n: ledger_shard(n) for n in names[:100]} == before
    shards = config_shards(names)
    assert shards == list(range(LEDGER_SHARDS))
    counts = [sum(1 for n in names if ledger_shard(n) == s) for s in shards]
    assert max(counts) < 10_000 / LEDGER_SHARDS * 1.25, counts  # evenly spread


def test_at_risk_is_worked_out_across_shards() -> None:
    a = DriftReport(config="c", workspaces={"vpc": drift(DriftStatus.DRIFTED)}, alerts_sent=2)
    b = DriftReport(
        config="c",
        workspaces={"app": drift(DriftStatus.CLEAN, ["vpc.id"]), "db": drift(DriftStatus.CLEAN, ["net.id"])},
        alerts_pending=1,
        lost_note="shard ended",
    )
    merged = merge_reports("c", [a, b])
    assert list(merged.workspaces) == ["app", "db", "vpc"]
    assert merged.workspaces["app"].at_risk and merged.workspaces["app"].at_risk_from == ["vpc.id"]
    assert not merged.workspaces["db"].at_risk
    assert (merged.alerts_sent, merged.alerts_pending, merged.lost_note) == (2, 1, "shard ended")


def test_run_durations_add_up_over_shards() -> None:
    one, two = Histogram(), Histogram()
    one.observe(3.0)
    two.observe(100.0)
    merged = merge_reports("c", [DriftReport(config="c", run_durations={"plan": one}),
                                 DriftReport(config="c", run_durations={"plan": two})])  # fmt: skip
    assert merged.run_durations["plan"].count == 2 and merged.run_durations["plan"].total == 103.0
    assert one.count == 1  # the shard's own answer is not changed


def test_every_shard_of_the_config_gets_a_part_of_every_run() -> None:
    ws = WorkspaceReport(status=WorkspaceStatus.SUCCEEDED, outcome="no_changes")
    names = [f"ws{i}" for i in range(200)]
    report = RunReport(run_id="r", config="c", mode="plan", status=RunStatus.SUCCEEDED, workspaces={"ws0": ws})
    parts = ledger_parts(report, config_shards(names))
    assert [shard for shard, _ in parts] == config_shards(names)
    (home,) = [shard for shard, p in parts if any(part.workspaces for part in p)]
    assert home == ledger_shard("ws0")
    assert ledger_parts(report, None) == [(None, [report.model_copy(update={"workspaces": {"ws0": ws}})])]


def test_a_scrape_reads_the_cached_copy_and_keeps_it_when_a_refresh_fails() -> None:
    calls = []
    answers: list[ConfigGauges | Exception] = [ConfigGauges.of(DriftReport(config="c")), RunError("server down")]

    async def fetch() -> ConfigGauges | None:
        calls.append(1)
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    cache = DriftCache(fetch, every=3600)
    assert cache.reports() == []
    asyncio.run(cache.refresh())
    assert [r.config for r in cache.reports()] == ["c"]
    assert [r.config for r in cache.reports()] == ["c"] and len(calls) == 1  # a scrape does not fetch
    asyncio.run(cache.refresh())
    assert [r.config for r in cache.reports()] == ["c"]


def test_a_slow_refresh_spaces_out_the_next_ones() -> None:
    starts: list[float] = []

    async def fetch() -> ConfigGauges | None:
        starts.append(time.monotonic())
        await asyncio.sleep(0.1)  # a slow read, as of 32 shards at 10,000 workspaces
        return ConfigGauges.of(DriftReport(config="c"))

    async def three_refreshes() -> None:
        task = asyncio.create_task(DriftCache(fetch, every=0.01).run())
        while len(starts) < 3:
            await asyncio.sleep(0.01)
        task.cancel()

    asyncio.run(three_refreshes())
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    # Each refresh waits BUSY_SHARE times the length of the one before, not `every`.
    assert all(gap >= 0.1 + BUSY_SHARE * 0.1 - 0.02 for gap in gaps), gaps


def test_gauges_merged_from_batches_of_shards_equal_those_of_the_merged_report() -> None:
    def drift(status: DriftStatus) -> WorkspaceDrift:
        return WorkspaceDrift(status=status, checked_at="2026-11-30T10:00:00+00:00", run_id="r")

    hist = Histogram(buckets=[1] + [0] * 11, count=1, total=3.0)
    a = DriftReport(config="c", workspaces={"b": drift(DriftStatus.DRIFTED)}, run_durations={"plan": hist})
    b = DriftReport(
        config="c",
        workspaces={"a": drift(DriftStatus.CLEAN)},
        checks_total={"a": {"clean": 2}},
        run_durations={"plan": hist},
    )
    merged = ConfigGauges.merge([ConfigGauges.of(a), ConfigGauges.of(b)])
    assert merged == ConfigGauges.of(merge_reports("c", [a, b]))
    assert list(merged.workspaces) == ["a", "b"] and merged.run_durations["plan"].count == 2
