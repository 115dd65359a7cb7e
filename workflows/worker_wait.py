"""Waiting, visibly, for a worker on a workspace's task queue (used by ParentWorkflow).

A workspace on a queue that no worker polls would otherwise sit in Temporal's queue
with no sign of why. The run asks Temporal whether the queue has pollers, shows the
workspace as waiting, re-asks with backoff, and gives up after `worker_timeout`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, CancelledError

from tfo.config.errors import ErrorType
from tfo.workflows import retry
from tfo.workflows.inputs import WorkspaceFailed
from tfo.workflows.run_report import format_timeout


def waiting_detail(queue: str) -> str:
    return f"waiting for a worker on queue {queue}"


async def wait_for_worker(queue: str, *, timeout: timedelta, on_wait: Callable[[str], None]) -> bool:
    """Return once a worker polls `queue`; True if it had to wait for one.

    Raises:
        WorkspaceFailed: no worker polled the queue within `timeout`.
    """
    deadline = workflow.now() + timeout
    delay = retry.WORKER_POLL_INITIAL
    waited = False
    while not await _has_pollers(queue):
        remaining = deadline - workflow.now()
        if remaining <= timedelta(0):
            raise WorkspaceFailed(
                f"no worker polled task queue {queue!r} within {format_timeout(timeout)}: "
                f"start one with `tfo worker --task-queue {queue}`",
                ErrorType.NO_WORKER,
            )
        on_wait(waiting_detail(queue))
        waited = True
        await workflow.sleep(min(delay, remaining))
        delay = min(delay * 2, retry.WORKER_POLL_MAX)
    return waited


async def _has_pollers(queue: str) -> bool:
    try:
        found: bool = await workflow.execute_local_activity(
            "queue_has_pollers",
            queue,
            result_type=bool,
            start_to_close_timeout=retry.BOOKKEEPING_TIMEOUT,
            retry_policy=retry.BOOKKEEPING,
        )
    except ActivityError as exc:
        if isinstance(exc.cause, CancelledError):
            raise asyncio.CancelledError from None
        # Temporal could not say; keep waiting (the timeout still applies).
        workflow.logger.warning("could not ask Temporal whether queue %s has workers: %s", queue, exc)
        return False
    return found
