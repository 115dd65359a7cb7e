"""The live status in pages (workflows/report_log.py): what changed since, within a budget."""

from __future__ import annotations

from tfo.config.payloads import ReportPage, RunReport, WorkspaceReport, WorkspaceStatus
from tfo.workflows.report_log import ReportLog


def merge(pages: list[ReportPage]) -> dict[str, WorkspaceReport]:
    merged: dict[str, WorkspaceReport] = {}
    for page in pages:
        merged.update(page.report.workspaces)
    return merged


def read_all(log: ReportLog, report: RunReport, since: int, budget: int) -> tuple[list[ReportPage], int]:
    pages = [log.page(report, since, budget=budget)]
    while pages[-1].more:
        pages.append(log.page(report, pages[-1].seq, budget=budget))
    return pages, pages[-1].seq


def test_a_large_report_comes_in_bounded_pages_and_then_only_changes() -> None:
    names = [f"ws{i:04d}" for i in range(2000)]
    report = RunReport(run_id="r", mode="plan", workspaces={n: WorkspaceReport(detail="x" * 100) for n in names})
    log = ReportLog()
    log.touch(*names)
    budget = 16 * 1024
    pages, seq = read_all(log, report, 0, budget)
    assert len(pages) > 10 and all(len(p.model_dump_json()) < budget + 2048 for p in pages)
    assert merge(pages) == report.workspaces  # nothing lost, nothing twice needed
    assert log.page(report, seq).report.workspaces == {}  # nothing changed since
    report.workspaces["ws0007"].status = WorkspaceStatus.RUNNING
    log.touch("ws0007")
    (again,), _ = read_all(log, report, seq, budget)
    assert list(again.report.workspaces) == ["ws0007"]
    assert again.report.workspaces["ws0007"].status == WorkspaceStatus.RUNNING


def test_a_workspace_bigger_than_the_budget_still_comes_alone() -> None:
    report = RunReport(run_id="r", mode="plan", workspaces={"a": WorkspaceReport(detail="y" * 5000)})
    log = ReportLog()
    log.touch("a")
    page = log.page(report, 0, budget=100)
    assert list(page.report.workspaces) == ["a"] and not page.more
