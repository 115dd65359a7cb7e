"""A running run's report, read from its workflow in bounded pages.

`LiveReport.fetch` asks only for what changed since its last read (the first read
brings everything, page by page), so following a run of N workspaces costs what
changes, and no answer grows with N. Workers of tfo 0.2 have no `status_page`
query: the whole `status` answer is used instead.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio.client import WorkflowHandle, WorkflowQueryFailedError

from tfo.config.payloads import ReportPage, RunReport

HEADER_ONLY = 2**62  # a `since` past every change: the answer is the run's header alone


class LiveReport:
    def __init__(self, handle: WorkflowHandle) -> None:
        self._handle = handle
        self._since = 0
        self._report: RunReport | None = None
        self._paged = True

    async def fetch(self, timeout: timedelta) -> RunReport | None:
        """The report as the workflow has it now; None before its first task ran.

        Raises:
            TimeoutError, RPCError: no worker answered in time.
        """
        while self._paged:
            try:
                page = await self._handle.query("status_page", self._since, result_type=ReportPage, rpc_timeout=timeout)
            except WorkflowQueryFailedError as exc:
                if "status_page" not in str(exc):
                    raise
                self._paged = False  # a worker of tfo 0.2
                break
            if page is None:
                return None
            merged = {**self._report.workspaces, **page.report.workspaces} if self._report else page.report.workspaces
            self._report = page.report.model_copy(update={"workspaces": merged})
            self._since = page.seq
            if not page.more:
                return self._report
        report: RunReport | None = await self._handle.query("status", result_type=RunReport, rpc_timeout=timeout)
        return report


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
