"""A run's report, read from its workflows in bounded pages.

`LiveReport.fetch` asks only for what changed since its last read (the first read
brings everything, page by page), so following a run of N workspaces costs what
changes, and no answer grows with N. Workers of tfo 0.2 have no `status_page`
query: the whole `status` answer is used instead.

A big run is split into segments (workflows.segments): its own report is a header
that names them, and the workspaces are read from each segment, from its live
status while it runs and from its result (one read) once it closed. `assemble` does
the same for a closed run.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio.client import Client, WorkflowHandle, WorkflowQueryFailedError
from temporalio.service import RPCError, RPCStatusCode

from tfo.config.payloads import ReportPage, RunReport, WorkspaceReport

HEADER_ONLY = 2**62  # a `since` past every change: the answer is the run's header alone


class _Pages:
    """One workflow's `status_page` answers, merged as they come."""

    def __init__(self, handle: WorkflowHandle) -> None:
        self.handle = handle
        self._since = 0
        self.report: RunReport | None = None
        self.paged = True

    async def fetch(self, timeout: timedelta) -> RunReport | None:
        while self.paged:
            try:
                page = await self.handle.query("status_page", self._since, result_type=ReportPage, rpc_timeout=timeout)
            except WorkflowQueryFailedError as exc:
                if "status_page" not in str(exc):
                    raise
                self.paged = False  # a worker of tfo 0.2
                break
            if page is None:
                return None
            merged = {**self.report.workspaces, **page.report.workspaces} if self.report else page.report.workspaces
            self.report = page.report.model_copy(update={"workspaces": merged})
            self._since = page.seq
            if not page.more:
                return self.report
        report: RunReport | None = await self.handle.query("status", result_type=RunReport, rpc_timeout=timeout)
        return report


class LiveReport:
    def __init__(self, client: Client, handle: WorkflowHandle) -> None:
        self._client = client
        self._run = _Pages(handle)
        self._segments: dict[str, _Pages] = {}
        self._finished: dict[str, dict[str, WorkspaceReport]] = {}

    async def fetch(self, timeout: timedelta) -> RunReport | None:
        """The report as the workflows have it now; None before the run's first task ran.

        Raises:
            TimeoutError, RPCError: no worker answered in time.
        """
        header = await self._run.fetch(timeout)
        if header is None or not header.segments:
            return header
        closed = set(header.segments_closed)
        for sid in header.segments:
            if sid in self._finished:
                continue
            if sid in closed:
                self._finished[sid] = await _segment_result(self._client, sid)
                self._segments.pop(sid, None)  # its live pages: a second copy of its workspaces
                continue
            pages = self._segments.setdefault(sid, _Pages(self._client.get_workflow_handle(sid)))
            try:
                await pages.fetch(timeout)
            except RPCError as exc:
                if exc.status != RPCStatusCode.NOT_FOUND:
                    raise
        workspaces: dict[str, WorkspaceReport] = {}
        for sid in header.segments:
            if sid in self._finished:
                workspaces.update(self._finished[sid])
            elif (seen := self._segments.get(sid)) is not None and seen.report is not None:
                workspaces.update(seen.report.workspaces)
        return header.model_copy(update={"workspaces": workspaces})

    async def final(self, result: RunReport) -> RunReport:
        """The closed run's full report, reusing the segment results already read: the
        workspaces of a 10,000-workspace run (~23 MB of objects) are held once."""
        self._segments.clear()
        known, self._finished = self._finished, {}
        return await assemble(self._client, result, known)


async def _segment_result(client: Client, segment_id: str) -> dict[str, WorkspaceReport]:
    report: RunReport = await client.get_workflow_handle(segment_id, result_type=RunReport).result()
    return report.workspaces


async def assemble(
    client: Client, report: RunReport, known: dict[str, dict[str, WorkspaceReport]] | None = None
) -> RunReport:
    """A closed run's full report: a segmented run's workspaces from its segments'
    results, read unless `known` has them already."""
    if not report.segments:
        return report
    known = known or {}
    missing = [sid for sid in report.segments if sid not in known]
    found = dict(zip(missing, await asyncio.gather(*(_segment_result(client, sid) for sid in missing)), strict=True))
    workspaces: dict[str, WorkspaceReport] = {}
    for sid in report.segments:
        workspaces.update(known[sid] if sid in known else found[sid])
    return report.model_copy(update={"workspaces": workspaces})


async def live_status(handle: WorkflowHandle, timeout: timedelta) -> RunReport | None:
    """The run's header (status, approval note, commit) without its workspaces."""
    try:
        page = await handle.query("status_page", HEADER_ONLY, result_type=ReportPage, rpc_timeout=timeout)
    except WorkflowQueryFailedError as exc:
        if "status_page" not in str(exc):
            raise
        report: RunReport | None = await handle.query("status", result_type=RunReport, rpc_timeout=timeout)
        return report
    return page.report if page is not None else None
