"""What MCP's `get_plan_diff` returns: a run's attribute-level diff, bounded as a whole.

Each workspace's diff is already bounded (DIFF_MAX_WORKSPACE_BYTES of attributes, see
config/plan_models.py), but a run may have thousands of workspaces. Without a
`workspace`, the answer keeps whole workspaces in name order while the answer (its
text included) fits in PLAN_DIFF_MAX_BYTES, and names the rest in `omitted`, with a
line saying how to ask for each one. A named workspace comes whole. The text is cut
to PLAN_DIFF_MAX_LINES lines.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from tfo.config.payloads import RunReport
from tfo.daemon.mcp_views import ResourceView
from tfo.daemon.plan_text import plan_text

# The whole structured answer, text included (tfo's bound for any payload).
PLAN_DIFF_MAX_BYTES = 256 * 1024
# The names of omitted workspaces take at most this share of it, in `omitted` and
# again in the text: 16 KiB each of 256 KiB.
OMITTED_SHARE = 16
PLAN_DIFF_MAX_LINES = 1000


class PlanDiffWorkspace(BaseModel):
    status: str
    resources: list[ResourceView]
    drift: list[ResourceView]
    output_changes: list[str]
    diff_truncated: bool = False


class PlanDiffView(BaseModel):
    """A run's bounded attribute-level diff; sensitive values never appear."""

    run_id: str
    status: str
    workspaces: dict[str, PlanDiffWorkspace]
    text: str = Field(description="The same diff as text, as `tfo show` prints it.")
    omitted: list[str] = Field(
        default_factory=list,
        description="Workspaces left out to bound the answer, in name order: ask for each with workspace=NAME.",
    )
    omitted_count: int = Field(default=0, description="How many were left out; `omitted` may list fewer.")


def plan_diff_view(
    report: RunReport,
    workspace: str | None,
    *,
    max_bytes: int = PLAN_DIFF_MAX_BYTES,
    max_lines: int = PLAN_DIFF_MAX_LINES,
) -> PlanDiffView:
    """The diff of one workspace (whole), or of the workspaces that fit in `max_bytes`.

    Args:
        report: the run's report, with the structured diff of each workspace.
        workspace: only this workspace (which must be in the report); None for all.
        max_bytes: the bound of the whole structured answer (its JSON, text included)
            when `workspace` is None.
        max_lines: the most lines of `text`.
    """
    if workspace is not None:
        return _view(report, [(workspace, _entry(report, workspace))], [], max_bytes, max_lines)
    names = sorted(report.workspaces)
    candidates = _candidates(report, names, max_bytes)
    # The longest prefix whose whole answer fits; none at all always fits (only names).
    view = _view(report, candidates, names[len(candidates) :], max_bytes, max_lines)
    if _size(view) <= max_bytes:
        return view
    low, high = 0, len(candidates) - 1
    while low < high:
        mid = (low + high + 1) // 2
        if _size(_view(report, candidates[:mid], names[mid:], max_bytes, max_lines)) <= max_bytes:
            low = mid
        else:
            high = mid - 1
    return _view(report, candidates[:low], names[low:], max_bytes, max_lines)


def plan_diff_text(view: PlanDiffView) -> str:
    return view.text


def _entry(report: RunReport, name: str) -> PlanDiffWorkspace:
    public = report.workspaces[name].public_json()
    return PlanDiffWorkspace.model_validate({k: public[k] for k in PlanDiffWorkspace.model_fields})


def _candidates(report: RunReport, names: list[str], max_bytes: int) -> list[tuple[str, PlanDiffWorkspace]]:
    """The workspaces, in order, up to the first whose diff alone would pass `max_bytes`."""
    found: list[tuple[str, PlanDiffWorkspace]] = []
    spent = 0
    for name in names:
        entry = _entry(report, name)
        spent += len(name) + len(entry.model_dump_json().encode()) + 4
        if spent > max_bytes:
            break
        found.append((name, entry))
    return found


def _size(view: PlanDiffView) -> int:
    return len(view.model_dump_json().encode())


def _view(
    report: RunReport,
    kept: list[tuple[str, PlanDiffWorkspace]],
    omitted: list[str],
    max_bytes: int,
    max_lines: int,
) -> PlanDiffView:
    listed = _listed(omitted, max_bytes // OMITTED_SHARE)
    if omitted:
        text = _bounded_text(report, [name for name, _ in kept], max_lines=max_lines - 1)
        text += "\n" + _omitted_line(report.run_id, listed, len(omitted), max_bytes)
    else:
        text = _bounded_text(report, [name for name, _ in kept], max_lines=max_lines)
    return PlanDiffView(
        run_id=report.run_id,
        status=report.status.value,
        workspaces=dict(kept),
        text=text,
        omitted=listed,
        omitted_count=len(omitted),
    )


def _listed(omitted: list[str], budget: int) -> list[str]:
    """The omitted names, in order, while their JSON fits in `budget` bytes."""
    listed: list[str] = []
    spent = 2
    for name in omitted:
        spent += len(name) + 3
        if spent > budget:
            break
        listed.append(name)
    return listed


def _bounded_text(report: RunReport, names: list[str], *, max_lines: int) -> str:
    if not names:  # plan_text reads an empty selection as "every workspace"
        return f"Plan for run {report.run_id}:"
    lines = plan_text(report, max_lines=None, workspaces=names).splitlines()
    if len(lines) > max_lines:
        kept = max(max_lines - 1, 0)
        more = len(lines) - kept
        hint = f"get_plan_diff with workspace=NAME, or `tfo show {report.run_id} -w NAME`"
        lines = [*lines[:kept], f"... {more} more lines: {hint}"]
    return "\n".join(lines)


def _omitted_line(run_id: str, listed: list[str], count: int, max_bytes: int) -> str:
    names = ", ".join(listed)
    if count > len(listed):
        names += f" and {count - len(listed)} more"
    return (
        f"{count} workspace{'s' if count != 1 else ''} left out to keep this answer under "
        f"{max_bytes // 1024} KiB: {names}. Call get_plan_diff({run_id!r}, workspace=NAME) for each."
    )
