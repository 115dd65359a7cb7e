"""The drift ledger in shards: which shard keeps a workspace, and one report from many.

A config's drift state is split over up to LEDGER_SHARDS ledger workflows by a
stable hash of the workspace name. Each shard's state, its continue-as-new input
and its query answers then stay bounded at 10,000 workspaces (about 313 per shard),
and a workspace never moves between shards when others are added or removed.
Clients read every shard and merge the answers here.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable

from tfo.config.drift_models import DriftReport, DriftStatus, Histogram, HistoryReport

LEDGER_SHARDS = 32


def ledger_shard(workspace: str) -> int:
    return zlib.crc32(workspace.encode()) % LEDGER_SHARDS


def config_shards(workspaces: Iterable[str]) -> list[int]:
    """The shards a config's workspaces live in, sorted; the first is the run's primary."""
    return sorted({ledger_shard(name) for name in workspaces})


def merge_reports(config: str, reports: list[DriftReport]) -> DriftReport:
    """One report from every shard's answer, with at-risk worked out across shards."""
    merged = DriftReport(config=config)
    notes: list[str] = []
    for report in reports:
        merged.workspaces.update(report.workspaces)
        merged.checks_total.update(report.checks_total)
        merged.alerts_pending += report.alerts_pending
        merged.alerts_sent += report.alerts_sent
        if report.lost_note and report.lost_note not in notes:
            notes.append(report.lost_note)
    merged.lost_note = "; ".join(notes) or None
    merged.run_durations = merge_durations(report.run_durations for report in reports)
    merged.workspaces = dict(sorted(merged.workspaces.items()))
    for ws in merged.workspaces.values():
        risky = []
        for ref in ws.consumes:
            upstream = merged.workspaces.get(ref.split(".", 1)[0])
            if upstream is not None and upstream.status == DriftStatus.DRIFTED:
                risky.append(ref)
        if ws.consumes:
            ws.at_risk, ws.at_risk_from = bool(risky), sorted(set(risky))
    return merged


def merge_histories(config: str, reports: list[HistoryReport]) -> HistoryReport:
    merged = HistoryReport(config=config)
    for report in reports:
        merged.workspaces.update(report.workspaces)
    merged.workspaces = dict(sorted(merged.workspaces.items()))
    return merged


def merge_durations(parts: Iterable[dict[str, Histogram]]) -> dict[str, Histogram]:
    """Run-duration histograms per mode, summed over disjoint sets of ledger shards."""
    merged: dict[str, Histogram] = {}
    for durations in parts:
        for mode, histogram in durations.items():
            merged[mode] = _add(merged.get(mode), histogram)
    return merged


def _add(total: Histogram | None, more: Histogram) -> Histogram:
    if total is None:
        return more.model_copy(deep=True)
    return Histogram(
        buckets=[a + b for a, b in zip(total.buckets, more.buckets, strict=True)],
        count=total.count + more.count,
        total=total.total + more.total,
    )
