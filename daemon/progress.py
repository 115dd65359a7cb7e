"""Showing a run's progress: a live table on a terminal, plain lines otherwise."""

from __future__ import annotations

import sys
from typing import TextIO

from tfo.config.payloads import RunReport, WorkspaceReport, WorkspaceStatus

_STYLE = {
    WorkspaceStatus.SUCCEEDED: "green",
    WorkspaceStatus.FAILED: "red",
    WorkspaceStatus.SKIPPED: "yellow",
    WorkspaceStatus.CANCELLED: "yellow",
    WorkspaceStatus.RUNNING: "cyan",
    WorkspaceStatus.WAITING: "magenta",
    WorkspaceStatus.PLANNED: "blue",
}


def changes_text(ws: WorkspaceReport) -> str:
    c = ws.changes
    if ws.outcome is None:
        return ""
    text = f"+{c.create} ~{c.update} -{c.delete} ±{c.replace}"
    if ws.output_changes:
        text += f" outputs:{len(ws.output_changes)}"
    return text


def describe(ws: WorkspaceReport) -> str:
    parts = [ws.status.value]
    if ws.operation:
        parts.append(ws.operation)
    if ws.outcome == "applied":
        parts.append("applied")
    if ws.resumed:
        parts.append("(resumed after a worker loss)")
    if ws.replanned:
        # New upstream outputs, a stale plan, or an interrupted or failed apply.
        parts.append("(re-planned before applying)")
    if ws.detail:
        parts.append(f"- {ws.detail}")
    if ws.error:
        parts.append(f"- {ws.error}")
    return " ".join(parts)


class LineProgress:
    """One line per workspace change, for logs and pipes."""

    def __init__(self, stream: TextIO = sys.stderr) -> None:
        self._stream = stream
        self._seen: dict[str, str] = {}
        self._run_status = ""

    def update(self, report: RunReport) -> None:
        for name, ws in report.workspaces.items():
            line = f"{describe(ws)} {changes_text(ws)}".strip()
            if self._seen.get(name) != line:
                self._seen[name] = line
                print(f"{name}: {line}", file=self._stream, flush=True)
        if report.status.value != self._run_status:
            self._run_status = report.status.value
            print(f"run {report.run_id}: {report.status.value}", file=self._stream, flush=True)

    def close(self) -> None:
        pass


class TableProgress:
    """A rich live table of workspace, status, operation and changes."""

    def __init__(self, stream: TextIO = sys.stderr) -> None:
        from rich.console import Console
        from rich.live import Live

        self._console = Console(file=stream)
        self._live = Live(console=self._console, refresh_per_second=8, transient=False)
        self._live.start()

    def update(self, report: RunReport) -> None:
        from rich.table import Table

        table = Table(title=f"{report.run_id} ({report.mode}): {report.status.value}", expand=False)
        for column in ("workspace", "status", "changes", "detail"):
            table.add_column(column)
        for name, ws in report.workspaces.items():
            status = ws.status.value + (f" {ws.operation}" if ws.operation else "")
            detail = ws.error or ws.detail or ("applied" if ws.outcome == "applied" else "")
            table.add_row(name, f"[{_STYLE.get(ws.status, 'white')}]{status}[/]", changes_text(ws), detail)
        self._live.update(table)

    def close(self) -> None:
        self._live.stop()


def make_progress(*, quiet: bool = False) -> LineProgress | TableProgress | None:
    if quiet:
        return None
    if sys.stderr.isatty():
        return TableProgress()
    return LineProgress()
