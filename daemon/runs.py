"""Starting, finding and following runs: the library core under the CLI and MCP."""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle, WorkflowQueryFailedError
from temporalio.service import RPCError

from tfo.config.errors import RunError
from tfo.config.loader import LoadedConfig, snapshot
from tfo.config.payloads import Mode, RunReport, RunRequest, RunStatus
from tfo.config.segment_models import SEGMENT_WORKSPACES
from tfo.daemon.connection import QUERY_TIMEOUT
from tfo.daemon.live_report import LiveReport, assemble
from tfo.daemon.run_adoption import Adoption, choose_run, read_last, run_memo
from tfo.daemon.scope import default_state_dir as default_state_dir
from tfo.daemon.scope import select as select
from tfo.daemon.stored_config import by_reference
from tfo.workflows.parent import ParentWorkflow

_CLOSED_STATUS = {
    WorkflowExecutionStatus.CANCELED: RunStatus.CANCELLED,
    WorkflowExecutionStatus.TERMINATED: RunStatus.CANCELLED,
    WorkflowExecutionStatus.FAILED: RunStatus.FAILED,
    WorkflowExecutionStatus.TIMED_OUT: RunStatus.FAILED,
}


def _index_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "tfo" / "runs"


def remember_run(run_id: str, request: RunRequest) -> None:
    """Record where a run lives, so `tfo status RUN_ID` can find its embedded server."""
    directory = _index_dir()
    entry = {
        "state_dir": request.config.state_dir,
        "default_queue": request.config.task_queue,
        "queues": sorted({ws.task_queue for ws in request.config.workspaces}),
    }
    try:
        directory.mkdir(parents=True, exist_ok=True)
        (directory / run_id).write_text(json.dumps(entry))
    except OSError:
        pass  # the index is a convenience; --state-dir still works


def run_location(run_id: str) -> dict[str, object] | None:
    """What `remember_run` recorded for a run, if anything."""
    try:
        return json.loads((_index_dir() / run_id).read_text())
    except (OSError, ValueError):
        return None


def mode_of(run_id: str) -> Mode:
    """A run's mode, from its ID (see new_run_id), for when no report can be read."""
    return "apply" if run_id.startswith("tfo-apply-") else "plan"


def new_run_id(mode: Mode, config_name: str) -> str:
    return f"tfo-{mode}-{config_name}-{uuid.uuid4().hex[:12]}"


def segment_workspaces() -> int:
    """How many workspaces a run takes before it goes in segments: SEGMENT_WORKSPACES,
    or TFO_SEGMENT_WORKSPACES (a tuning knob; smaller segments, shorter histories)."""
    raw = os.environ.get("TFO_SEGMENT_WORKSPACES", "").strip()
    try:
        value = int(raw) if raw else SEGMENT_WORKSPACES
    except ValueError:
        raise RunError(f"TFO_SEGMENT_WORKSPACES must be a whole number, not {raw!r}") from None
    if value < 1:
        raise RunError(f"TFO_SEGMENT_WORKSPACES must be at least 1, not {value}")
    return value


def build_request(
    loaded: LoadedConfig,
    *,
    mode: Mode,
    workspaces: list[str],
    state_dir: Path,
    parallelism: int | None = None,
    auto_approve: bool = False,
    no_wait: bool = False,
    trigger: str = "cli",
) -> RunRequest:
    snap = snapshot(loaded, state_dir=state_dir)
    return RunRequest(
        config=snap,
        mode=mode,
        workspaces=select(loaded, workspaces),
        parallelism=parallelism or snap.settings.parallelism,
        auto_approve=auto_approve,
        no_wait=no_wait,
        trigger=trigger,
        ledger_shards=True,
        record_batches=True,
        segment_workspaces=segment_workspaces(),
        file_locks=True,
    )


async def start_run(client: Client, request: RunRequest, *, run_id: str | None = None) -> str:
    run_id = run_id or new_run_id(request.mode, request.config.name)
    await client.start_workflow(
        ParentWorkflow.run,
        await by_reference(request),
        id=run_id,
        task_queue=request.config.task_queue,
        memo=run_memo(request),  # what was asked: only the same request ever resumes this run
    )
    remember_run(run_id, request)
    _active_file(Path(request.config.state_dir)).write_text(
        json.dumps(
            {"run_id": run_id, "mode": request.mode, "trigger": request.trigger, "workspaces": request.workspaces}
        )
    )
    return run_id


def _active_file(state_dir: Path) -> Path:
    state_dir.mkdir(parents=True, exist_ok=True)
    return state_dir / "last-run.json"


def mark_ended(state_dir: Path, run_id: str) -> None:
    """Note that the state dir's last run was followed to its end.

    The next command then need not ask Temporal whether it is still open: describing
    a closed run right after the embedded server starts costs 0.4-0.9 s.
    """
    path = _active_file(state_dir)
    try:
        last = json.loads(path.read_text())
    except (OSError, ValueError):
        return
    if last.get("run_id") == run_id:
        path.write_text(json.dumps({**last, "ended": True}))


async def find_resumable(client: Client, state_dir: Path, request: RunRequest) -> Adoption:
    """The state dir's last run if it is this very request and nobody follows it (see run_adoption)."""
    return await choose_run(client, state_dir, request, last=read_last(_active_file(state_dir)))


async def report(client: Client, run_id: str, *, timeout: timedelta = QUERY_TIMEOUT) -> RunReport:
    """A run's report: its result when closed, its live status otherwise.

    Raises:
        RunError: no such run, or no worker answers for a running one.
    """
    handle: WorkflowHandle = client.get_workflow_handle(run_id, result_type=RunReport)
    try:
        desc = await handle.describe()
    except RPCError as exc:
        raise RunError(f"no run {run_id!r} found ({exc.message})") from None
    if desc.status == WorkflowExecutionStatus.COMPLETED:
        return await assemble(client, await handle.result())
    if desc.status != WorkflowExecutionStatus.RUNNING:
        status = _CLOSED_STATUS.get(desc.status, RunStatus.FAILED)  # type: ignore[arg-type]
        return RunReport(run_id=run_id, mode=mode_of(run_id), status=status)
    try:
        live = await LiveReport(client, handle).fetch(timeout)
    except (TimeoutError, RPCError, WorkflowQueryFailedError) as exc:
        raise RunError(f"run {run_id} is running but no worker answered: {exc}") from None
    if live is None:
        raise RunError(f"run {run_id} has not started yet: is a worker running?")
    return live


async def follow(
    client: Client,
    run_id: str,
    *,
    on_update: Callable[[RunReport], None],
    on_approval: Callable[[RunReport], asyncio.Future[bool] | None] | None = None,
    interval: float = 0.2,
) -> RunReport:
    """Poll a run's status until it ends; returns the final report."""
    handle = client.get_workflow_handle(run_id, result_type=RunReport)
    result_task = asyncio.ensure_future(handle.result())
    asked = False
    reader = LiveReport(client, handle)  # each poll reads only what changed since the last
    try:
        while not result_task.done():
            try:
                live = await reader.fetch(timedelta(seconds=5))
            except (TimeoutError, RPCError, WorkflowQueryFailedError):
                live = None
            if live is not None:
                on_update(live)
                if live.status == RunStatus.AWAITING_APPROVAL and not asked and on_approval:
                    asked = True
                    decision = on_approval(live)
                    if decision is not None:
                        await decide(client, run_id, approved=await decision, by="terminal")
            await asyncio.wait({result_task}, timeout=interval)
        try:
            final: RunReport = await reader.final(result_task.result())
        except RPCError as exc:
            # The server went away (an embedded one killed, a network cut): the run is
            # durable in the server's store, so say how to pick it up, not a traceback.
            raise RunError(
                f"lost the Temporal server while following run {run_id} ({exc.message}); the run is kept: "
                f"run the same command again, or `tfo resume {run_id}`"
            ) from None
    finally:
        result_task.cancel()
    on_update(final)
    return final


async def decide(client: Client, run_id: str, *, approved: bool, by: str, reason: str = "") -> str:
    from temporalio.client import WorkflowUpdateFailedError

    from tfo.config.payloads import ApprovalDecision

    handle = client.get_workflow_handle(run_id)
    try:
        return await handle.execute_update(
            "decide", ApprovalDecision(approved=approved, by=by, reason=reason), result_type=str
        )
    except WorkflowUpdateFailedError as exc:
        cause = exc.cause
        raise RunError(f"run {run_id}: {getattr(cause, 'message', cause)}") from None
    except RPCError as exc:
        raise RunError(f"run {run_id}: {exc.message}") from None
