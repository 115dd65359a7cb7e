"""Recent runs with tfo's own status, not Temporal's.

A run that tfo reports as failed, rejected or cancelled still *completes* as a
workflow (it returns its report), so Temporal's `completed` says nothing about how it
went. A closed run's status is in its result (one call that reads only the close
event); a running one's comes from its `status` query, which needs a worker: without
one in time it is shown as `running`.
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict, dataclass
from datetime import timedelta

from temporalio.client import (
    Client,
    WorkflowExecution,
    WorkflowExecutionStatus,
    WorkflowQueryFailedError,
    WorkflowQueryRejectedError,
)
from temporalio.service import RPCError

from tfo.config.payloads import RunReport, RunStatus
from tfo.daemon.live_report import live_status

PARENT_RUNS = "WorkflowType = 'ParentWorkflow'"
LIVE_TIMEOUT = timedelta(seconds=2)

_CLOSED = {
    WorkflowExecutionStatus.CANCELED: RunStatus.CANCELLED,
    WorkflowExecutionStatus.TERMINATED: RunStatus.CANCELLED,
    WorkflowExecutionStatus.FAILED: RunStatus.FAILED,
    WorkflowExecutionStatus.TIMED_OUT: RunStatus.FAILED,
}


@dataclass(frozen=True)
class RunEntry:
    run_id: str
    status: str
    started: str
    closed: str | None

    def public_json(self) -> dict[str, object]:
        return asdict(self)


async def recent_runs(
    client: Client, *, limit: int, query: str = PARENT_RUNS, live_timeout: timedelta = LIVE_TIMEOUT
) -> list[RunEntry]:
    """The newest `limit` runs, each with tfo's status (looked up concurrently)."""
    executions = [wf async for wf in client.list_workflows(query, limit=limit)]
    return await run_entries(client, executions, live_timeout=live_timeout)


async def run_entries(
    client: Client, executions: list[WorkflowExecution], *, live_timeout: timedelta = LIVE_TIMEOUT
) -> list[RunEntry]:
    """These runs, each with tfo's status (looked up concurrently)."""
    statuses = await asyncio.gather(*(tfo_status(client, wf, live_timeout=live_timeout) for wf in executions))
    return [
        RunEntry(
            run_id=wf.id,
            status=status,
            started=wf.start_time.isoformat(),
            closed=wf.close_time.isoformat() if wf.close_time else None,
        )
        for wf, status in zip(executions, statuses, strict=True)
    ]


async def tfo_status(client: Client, wf: WorkflowExecution, *, live_timeout: timedelta = LIVE_TIMEOUT) -> str:
    """running, awaiting_approval, succeeded, failed, cancelled or rejected."""
    handle = client.get_workflow_handle(wf.id, run_id=wf.run_id, result_type=RunReport)
    if wf.status == WorkflowExecutionStatus.COMPLETED:
        try:
            report: RunReport = await handle.result(follow_runs=False)
        except Exception:  # RPCError, or a result it cannot decode (no key): still list the run
            return "unknown"
        return report.status.value
    if wf.status in _CLOSED:
        return _CLOSED[wf.status].value
    try:
        live = await live_status(handle, live_timeout)
    except (TimeoutError, RPCError, WorkflowQueryFailedError, WorkflowQueryRejectedError):  # no worker in time
        return RunStatus.RUNNING.value
    return live.status.value if live is not None else RunStatus.RUNNING.value
