"""A run's planned changes as text: the approval gate, `tfo approve`, `tfo show` and MCP.

Every workspace gets one status line; those with changes get their attribute-level
diff (masked and bounded by the plan diff). Long plans are cut with the command
that shows the rest.
"""

from __future__ import annotations

from tfo.config.payloads import RunReport, WorkspaceReport
from tfo.config.policy_models import MAX_VERDICTS
from tfo.daemon.diff_text import render_workspaces
from tfo.daemon.progress import changes_text

# Lines of diff shown before the approval prompt; `tfo show RUN` has every line.
GATE_MAX_LINES = 200


def _status_line(name: str, ws: WorkspaceReport) -> str:
    if ws.error:
        return f"  {name}: FAILED - {ws.error}"
    if ws.detail:
        return f"  {name}: {ws.detail}"
    if ws.outcome in ("changes", "applied"):
        return f"  {name}: {changes_text(ws)}"
    return f"  {name}: no changes"


def policy_lines(ws: WorkspaceReport) -> list[str]:
    """A line per policy verdict: `deny` blocks the apply, `warn` only reports."""
    lines = [f"    {v.effect}: {v.text()}" for v in ws.policy]
    if len(ws.policy) >= MAX_VERDICTS:
        lines.append(f"    (at most {MAX_VERDICTS} policy verdicts are listed)")
    return lines


def has_diff(ws: WorkspaceReport) -> bool:
    return bool(ws.resources or ws.drift or ws.output_changes)


def plan_text(
    report: RunReport,
    *,
    color: bool = False,
    max_lines: int | None = GATE_MAX_LINES,
    workspaces: list[str] | None = None,
) -> str:
    """The plan of a run: status lines, then each changed workspace's diff."""
    wanted = set(workspaces or ())
    selected = {n: ws for n, ws in report.workspaces.items() if not wanted or n in wanted}
    lines = [f"Plan for run {report.run_id}:"]
    for name, ws in selected.items():
        lines.append(_status_line(name, ws))
        lines += policy_lines(ws)
    diffs = {name: (ws.resources, ws.drift, ws.output_changes) for name, ws in selected.items() if has_diff(ws)}
    if diffs:
        lines.append("")
        hint = f"tfo show {report.run_id}"
        lines.append(render_workspaces(diffs, color=color, max_lines=max_lines, more_hint=hint))
    if any(ws.diff_truncated for ws in selected.values()):
        lines.append(
            f"(some diffs are shortened: `tfo show {report.run_id}` shows terraform's full plan while the run's "
            "saved plan exists, until the run ends)"
        )
    return "\n".join(lines)
