"""Following a segmented run holds each segment's workspaces once (daemon.live_report)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tfo.config.payloads import ReportPage, RunReport, RunStatus, WorkspaceReport, WorkspaceStatus
from tfo.daemon.live_report import LiveReport

WAIT = timedelta(seconds=5)


def _segment(sid: str, names: list[str], status: WorkspaceStatus) -> RunReport:
    return RunReport(run_id=sid, mode="plan", workspaces={n: WorkspaceReport(status=status) for n in names})


class _Handle:
    def __init__(self, world: _World, wid: str) -> None:
        self._world, self._wid = world, wid

    async def query(self, name: str, since: int, **_: Any) -> ReportPage:
        assert name == "status_page"
        self._world.queries.append(self._wid)
        return ReportPage(report=self._world.live[self._wid], seq=since + 1)

    async def result(self) -> RunReport:
        self._world.results.append(self._wid)
        return self._world.closed[self._wid]


class _World:
    """A client whose run has two segments, s0 and s1; it records what is read."""

    def __init__(self) -> None:
        self.live: dict[str, RunReport] = {}
        self.closed: dict[str, RunReport] = {}
        self.queries: list[str] = []
        self.results: list[str] = []

    def get_workflow_handle(self, wid: str, **_: Any) -> _Handle:
        return _Handle(self, wid)


async def test_a_closed_segment_is_read_once_and_its_live_pages_are_let_go() -> None:
    world = _World()
    world.live["run"] = RunReport(run_id="run", mode="plan", segments=["s0", "s1"])
    world.live["s0"] = _segment("s0", ["a", "b"], WorkspaceStatus.RUNNING)
    world.live["s1"] = _segment("s1", ["c"], WorkspaceStatus.PENDING)
    reader = LiveReport(world, world.get_workflow_handle("run"))  # type: ignore[arg-type]

    first = await reader.fetch(WAIT)
    assert first is not None and list(first.workspaces) == ["a", "b", "c"]
    assert first.workspaces["a"].status == WorkspaceStatus.RUNNING

    world.closed["s0"] = _segment("s0", ["a", "b"], WorkspaceStatus.SUCCEEDED)
    world.live["run"] = world.live["run"].model_copy(update={"segments_closed": ["s0"]})
    second = await reader.fetch(WAIT)
    assert second is not None and second.workspaces["a"].status == WorkspaceStatus.SUCCEEDED
    assert reader._segments.keys() == {"s1"}  # s0's live copy is gone

    world.closed["s1"] = _segment("s1", ["c"], WorkspaceStatus.SUCCEEDED)
    result = RunReport(run_id="run", mode="plan", status=RunStatus.SUCCEEDED, segments=["s0", "s1"])
    final = await reader.final(result)

    assert world.results == ["s0", "s1"]  # s0 was not read a second time for the final report
    assert list(final.workspaces) == ["a", "b", "c"]
    assert all(ws.status == WorkspaceStatus.SUCCEEDED for ws in final.workspaces.values())
    assert final.status == RunStatus.SUCCEEDED
