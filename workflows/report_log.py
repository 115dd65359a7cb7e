"""Which workspaces of a run's report changed when: the live status in bounded pages.

A client that follows a run asks for what changed since the last page it read, so a
poll costs what changed, not the whole report (a 10,000-workspace report each second
would be quadratic); and no answer passes PAGE_BYTES, so a report of any size is read
in pieces instead of one payload over Temporal's limits.
"""

from __future__ import annotations

from tfo.config.payloads import ReportPage, RunReport, WorkspaceReport

PAGE_BYTES = 192 * 1024


class ReportLog:
    def __init__(self) -> None:
        self._seq = 0
        self._changed: dict[str, int] = {}

    def touch(self, *names: str) -> None:
        for name in names:
            self._seq += 1
            self._changed[name] = self._seq

    def page(self, report: RunReport, since: int, *, budget: int = PAGE_BYTES) -> ReportPage:
        """The report's header and the workspaces changed after `since`, oldest change
        first, within `budget` bytes (always at least one workspace)."""
        picked: dict[str, WorkspaceReport] = {}
        last, more = since, False
        for seq, name in sorted((seq, name) for name, seq in self._changed.items() if seq > since):
            ws = report.workspaces[name]
            size = len(name) + len(ws.model_dump_json())
            if picked and size > budget:
                more = True
                break
            picked[name], last = ws, seq
            budget -= size
        if not more:
            last = self._seq
        return ReportPage(report=report.model_copy(update={"workspaces": picked}), seq=last, more=more)
