"""Acting on an existing run (approve, reject, cancel, status) whether or not a worker runs it.

A decision is a Temporal update and a cancel a request that only a worker acts on:
with no worker (say, after Ctrl-C at the gate in embedded mode) both used to wait
forever, or to report "cancellation requested" for a run that stayed running.

- Embedded mode: the state dir's server is started if needed, and this process runs
  a workflows-only worker (`query_worker`), which delivers the decision or the
  cancel. When no other tfo process uses that server (this one started it), nothing
  else could finish the run, so a reject or cancel runs the full workers until the
  run has ended: after a reject or cancel only bookkeeping activities remain (removing
  saved plans, recording the result).
- With a server address: the run's workflow queue must have a worker; if none has
  polled it lately the command fails at once, saying what to start, and an update
  that no worker takes up still fails within `DECIDE_TIMEOUT`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from temporalio.client import (
    Client,
    WorkflowExecutionDescription,
    WorkflowExecutionStatus,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.service import RPCError
from temporalio.worker import Worker

from tfo.config.errors import RunError
from tfo.daemon import runs
from tfo.daemon.connection import ConnectionSettings
from tfo.daemon.session import Session, session_for_run

DECIDE_TIMEOUT = timedelta(seconds=20)
# A cancelled apply gives terraform 30 s after SIGINT before killing it (runner grace).
END_TIMEOUT = timedelta(seconds=60)


@dataclass
class RunControl:
    session: Session
    run_id: str
    task_queue: str
    # True when this process runs the workers that finish the run (nobody else would).
    finishing: bool
    workers: list[Worker] = field(default_factory=list)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def client(self) -> Client:
        return self.session.client

    def serve(self) -> None:
        """Start this process's workers (once); they stop when the session ends."""
        if not self._tasks:
            self._tasks = [asyncio.create_task(w.run()) for w in self.workers]

    async def close(self) -> None:
        if self._tasks:
            await asyncio.gather(*(w.shutdown() for w in self.workers), return_exceptions=True)
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def wait_ended(self, timeout: timedelta = END_TIMEOUT) -> bool:
        """Wait until the run has closed; False if it is still open after `timeout`."""
        handle = self.client.get_workflow_handle(self.run_id)
        deadline = time.monotonic() + timeout.total_seconds()
        while True:
            try:
                desc = await handle.describe()
            except RPCError as exc:
                raise RunError(f"run {self.run_id}: {exc.message}") from None
            if desc.status != WorkflowExecutionStatus.RUNNING:
                return True
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.2)


async def describe(client: Client, run_id: str) -> WorkflowExecutionDescription:
    try:
        return await client.get_workflow_handle(run_id).describe()
    except RPCError as exc:
        raise RunError(f"no run {run_id!r} found ({exc.message})") from None


async def has_workflow_worker(client: Client, queue: str) -> bool:
    from tfo.activities.queues import has_pollers

    return await has_pollers(client, queue, workflows=True)


def no_worker_message(conn: ConnectionSettings, queue: str) -> str:
    return (
        f"no worker serves task queue {queue!r} at {conn.address}: start "
        f"`tfo worker --temporal-address {conn.address}` (or `tfo daemon CONFIG --temporal-address "
        f"{conn.address}`), then run this again"
    )


@contextlib.asynccontextmanager
async def control_run(
    conn: ConnectionSettings, run_id: str, *, state_dir: Path | None, finish: bool = False
) -> AsyncIterator[RunControl]:
    """A session that can act on `run_id`, with the workers needed for the action to land.

    Args:
        finish: The action ends the run (reject, cancel): in embedded mode with no other
            tfo process alive, run full workers so that it actually ends.
    """
    async with session_for_run(conn, run_id, state_dir=state_dir) as session:
        desc = await describe(session.client, run_id)
        queue = desc.task_queue
        if not conn.embedded:
            yield RunControl(session, run_id, queue, finishing=False)
            return
        alone = session.started_server and desc.status == WorkflowExecutionStatus.RUNNING
        workers = await _embedded_workers(session.client, desc, run_id, full=finish and alone)
        ctl = RunControl(session, run_id, queue, finishing=finish and alone, workers=workers)
        try:
            yield ctl
        finally:
            await ctl.close()


async def _embedded_workers(
    client: Client, desc: WorkflowExecutionDescription, run_id: str, *, full: bool
) -> list[Worker]:
    from tfo.daemon.worker import build_workers, query_worker

    if not full:
        return [query_worker(client, desc.task_queue)]
    await allow_run_config(desc)
    where = runs.run_location(run_id) or {}
    queues = [str(q) for q in where.get("queues", []) or []]  # type: ignore[attr-defined]
    return build_workers(client, default_queue=desc.task_queue, activity_queues=queues)


async def allow_run_config(desc: WorkflowExecutionDescription) -> None:
    """Let this process's workers run the binaries of the run's own config file.

    The file is the operator's (an inline config has none, so its run gets only the
    default and explicitly allowed binaries)."""
    from tfo.activities.binary_policy import allow_config

    recorded = (await desc.memo()).get("config")
    if isinstance(recorded, str) and Path(recorded).is_file():
        allow_config(Path(recorded))


async def bounded_decide(ctl: RunControl, conn: ConnectionSettings, *, approved: bool, by: str, reason: str) -> str:
    """Deliver a decision; with a server address, fail fast when no worker can take it."""
    if not conn.embedded and not await has_workflow_worker(ctl.client, ctl.task_queue):
        raise RunError(f"run {ctl.run_id}: " + no_worker_message(conn, ctl.task_queue))
    ctl.serve()
    try:
        return await asyncio.wait_for(
            runs.decide(ctl.client, ctl.run_id, approved=approved, by=by, reason=reason),
            timeout=DECIDE_TIMEOUT.total_seconds(),
        )
    except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):
        # The server keeps an update it has admitted until a worker takes it up: say so.
        why = no_worker_message(conn, ctl.task_queue) if not conn.embedded else "is its server overloaded?"
        raise RunError(
            f"run {ctl.run_id}: no worker took the decision within {int(DECIDE_TIMEOUT.total_seconds())} s ({why}); "
            f"it may still take effect when a worker runs: check `tfo status {ctl.run_id}`"
        ) from None
