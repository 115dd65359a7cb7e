"""MCP's get_plan_diff answer (daemon/mcp_plan_diff.py): bounded as a whole, on
hand-built run reports."""

from __future__ import annotations

import json

from tfo.config.payloads import (
    DIFF_MAX_VALUE_CHARS,
    DIFF_MAX_WORKSPACE_BYTES,
    AttributeChange,
    ChangeCounts,
    ResourceChange,
    RunReport,
    RunStatus,
    WorkspaceReport,
    WorkspaceStatus,
)
from tfo.daemon.mcp_plan_diff import (
    OMITTED_SHARE,
    PLAN_DIFF_MAX_BYTES,
    PLAN_DIFF_MAX_LINES,
    PlanDiffView,
    plan_diff_view,
)
from tfo.daemon.plan_text import plan_text

RUN = "tfo-plan-prod-0f3c2a"


def changed_ws(resources: int, attributes: int, *, value_chars: int = 10) -> WorkspaceReport:
    value = "v" * value_chars
    diff = [AttributeChange(path=f"input.k{a:02d}", before=value, after=value + "2") for a in range(attributes)]
    changes = [
        ResourceChange(address=f"terraform_data.r{r:03d}", action="update", attributes=list(diff))
        for r in range(resources)
    ]
    return WorkspaceReport(
        status=WorkspaceStatus.SUCCEEDED,
        outcome="changes",
        changes=ChangeCounts(update=resources),
        resources=changes,
    )


def report(**workspaces: WorkspaceReport) -> RunReport:
    return RunReport(run_id=RUN, mode="plan", status=RunStatus.SUCCEEDED, changes=True, workspaces=workspaces)


def compact(value: object) -> int:
    """Bytes of `value` as JSON on the wire (compact, UTF-8)."""
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())


def structured_bytes(view: PlanDiffView) -> int:
    return compact(view.model_dump(mode="json"))


def full_workspace() -> WorkspaceReport:
    """A workspace whose diff fills about all of DIFF_MAX_WORKSPACE_BYTES, as the plan summary bounds it."""
    ws = changed_ws(10, 12, value_chars=DIFF_MAX_VALUE_CHARS // 2 - 2)
    size = compact([r.public_json() for r in ws.resources])
    assert 0.8 * DIFF_MAX_WORKSPACE_BYTES < size <= DIFF_MAX_WORKSPACE_BYTES
    return ws


def test_a_small_run_comes_whole_with_nothing_omitted() -> None:
    run = report(net=changed_ws(1, 2), app=changed_ws(2, 1))
    view = plan_diff_view(run, None)
    assert list(view.workspaces) == ["app", "net"]
    assert [r.address for r in view.workspaces["app"].resources] == ["terraform_data.r000", "terraform_data.r001"]
    assert view.workspaces["net"].resources[0].attributes[1].path == "input.k01"
    assert (view.omitted, view.omitted_count) == ([], 0)
    assert view.text == plan_text(run, max_lines=None)
    assert "left out" not in view.text


def test_without_a_workspace_the_answer_stops_at_the_budget_and_names_the_rest() -> None:
    # 40 workspaces of ~30 KiB each: ~1.2 MB unbounded, the old answer's size.
    names = [f"ws{i:02d}" for i in range(40)]
    run = report(**{name: full_workspace() for name in reversed(names)})
    view = plan_diff_view(run, None)

    # Each workspace costs ~60 KB: its diff, and the same again as text.
    assert 0.7 * PLAN_DIFF_MAX_BYTES < structured_bytes(view) <= PLAN_DIFF_MAX_BYTES
    kept = list(view.workspaces)
    assert len(kept) >= 3
    # One workspace more would not have fit: the budget was spent, not left unused.
    one_more = report(**{name: full_workspace() for name in names[: len(kept) + 1]})
    assert plan_diff_view(one_more, None).omitted == [names[len(kept)]]
    assert kept == names[: len(kept)]  # whole workspaces, in name order
    assert view.omitted == names[len(kept) :]
    assert view.omitted_count == 40 - len(kept)
    for name in kept:  # each kept workspace is whole
        assert view.workspaces[name].model_dump() == plan_diff_view(run, name).workspaces[name].model_dump()
    last = view.text.splitlines()[-1]
    assert last.startswith(f"{40 - len(kept)} workspaces left out to keep this answer under 256 KiB: ")
    assert ", ".join(view.omitted) in last
    assert f"Call get_plan_diff({RUN!r}, workspace=NAME) for each." in last
    # The text shows the kept workspaces only.
    assert f"  {kept[-1]}: " in view.text and f"  {view.omitted[0]}: " not in view.text


def test_a_named_workspace_comes_whole_even_when_all_of_them_would_not_fit() -> None:
    run = report(**{f"ws{i:02d}": full_workspace() for i in range(40)})
    view = plan_diff_view(run, "ws39")
    assert list(view.workspaces) == ["ws39"]
    assert (view.omitted, view.omitted_count) == ([], 0)
    assert len(view.workspaces["ws39"].resources) == 10


def test_the_list_of_omitted_names_is_bounded_too() -> None:
    # 2,000 workspaces of 63-character names (~130 KB of names); a budget that keeps a few.
    names = [f"{i:04d}-" + "n" * 58 for i in range(2000)]
    run = report(**{name: changed_ws(1, 1) for name in names})
    max_bytes = 64 * 1024
    view = plan_diff_view(run, None, max_bytes=max_bytes)

    assert structured_bytes(view) <= max_bytes
    kept = len(view.workspaces)
    assert 10 <= kept < 2000
    assert view.omitted_count == 2000 - kept
    assert 0 < len(view.omitted) < view.omitted_count
    assert view.omitted == names[kept : kept + len(view.omitted)]
    assert compact(view.omitted) <= max_bytes // OMITTED_SHARE
    assert f" and {view.omitted_count - len(view.omitted)} more. Call get_plan_diff(" in view.text


def test_a_first_workspace_over_the_budget_leaves_an_empty_selection_not_all() -> None:
    run = report(big=full_workspace(), small=changed_ws(1, 1))
    view = plan_diff_view(run, None, max_bytes=16 * 1024)
    assert view.workspaces == {}
    assert view.omitted == ["big", "small"]
    assert view.text.splitlines() == [
        f"Plan for run {RUN}:",
        f"2 workspaces left out to keep this answer under 16 KiB: big, small. "
        f"Call get_plan_diff({RUN!r}, workspace=NAME) for each.",
    ]
    assert structured_bytes(view) <= 16 * 1024


def test_the_text_is_cut_to_the_line_cap_with_where_the_rest_is() -> None:
    # One workspace, 400 resources of 5 attributes: ~2,400 lines of text.
    run = report(big=changed_ws(400, 5))
    view = plan_diff_view(run, None)
    assert len(view.workspaces["big"].resources) == 400  # the structured diff is whole
    lines = view.text.splitlines()
    assert len(lines) == PLAN_DIFF_MAX_LINES
    full = plan_text(run, max_lines=None).splitlines()
    assert lines[:-1] == full[: PLAN_DIFF_MAX_LINES - 1]
    assert lines[-1] == (
        f"... {len(full) - PLAN_DIFF_MAX_LINES + 1} more lines: "
        f"get_plan_diff with workspace=NAME, or `tfo show {RUN} -w NAME`"
    )


def test_the_line_cap_holds_with_the_omitted_line_too() -> None:
    # 10,000 small workspaces: ~600 fit, with more text lines than the cap.
    run = report(**{f"ws{i:05d}": changed_ws(1, 2) for i in range(10_000)})
    view = plan_diff_view(run, None)
    assert structured_bytes(view) <= PLAN_DIFF_MAX_BYTES
    assert len(view.workspaces) > 0 and view.omitted_count > 0
    assert len(view.workspaces) + view.omitted_count == 10_000
    lines = view.text.splitlines()
    assert len(lines) == PLAN_DIFF_MAX_LINES
    assert lines[-2].startswith("... ") and lines[-2].endswith(
        f" more lines: get_plan_diff with workspace=NAME, or `tfo show {RUN} -w NAME`"
    )
    assert lines[-1].startswith(f"{view.omitted_count} workspaces left out")
