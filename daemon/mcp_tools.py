"""What tfo's MCP tools do, as plain async methods that raise `TfoError`, and the
workers an embedded MCP server runs for the task queues its configs name.

What an agent may touch is bounded by `daemon.confinement` (config roots), and what it
may do by `McpOptions`: plans always, applies only with `allow_apply`, and even then
every apply stops at the approval gate until a human runs `tfo approve`.
"""

from __future__ import annotations

import asyncio
import logging
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio.client import (
    Client,
    WorkflowExecution,
    WorkflowExecutionDescription,
    WorkflowExecutionStatus,
    WorkflowQueryFailedError,
)
from temporalio.service import RPCError
from temporalio.worker import Worker

from tfo.config.errors import RunError
from tfo.config.loader import LoadedConfig
from tfo.config.payloads import Mode, RunReport, RunStatus
from tfo.daemon import confinement, runs
from tfo.daemon.confinement import ConfigRoots, ConfinementError, InlineLimits
from tfo.daemon.live_report import LiveReport
from tfo.daemon.mcp_plan_diff import PlanDiffView, plan_diff_view
from tfo.daemon.mcp_views import (
    CancelResult,
    DriftView,
    InputView,
    RunList,
    RunSummary,
    RunView,
    ScheduleView,
    StartedRun,
    WorkflowList,
    WorkspaceView,
    run_view,
)

logger = logging.getLogger("tfo.mcp")

RUN_ID = re.compile(r"tfo-(plan|apply)-[A-Za-z0-9_.-]{1,200}")
MAX_WORKER_QUEUES = 32
STATUS_TIMEOUT = timedelta(seconds=5)
_CLOSED = {
    WorkflowExecutionStatus.COMPLETED,
    WorkflowExecutionStatus.FAILED,
    WorkflowExecutionStatus.CANCELED,
    WorkflowExecutionStatus.TERMINATED,
    WorkflowExecutionStatus.TIMED_OUT,
}


# -- workers ------------------------------------------------------------------


class WorkerPool:
    """The workers this server runs in embedded mode, one per task queue a config names.

    Configs may name their own queues, and a long-lived server cannot know them up
    front, so a queue gets its worker the first time a config needs it.
    """

    def __init__(self, client: Client, *, enabled: bool, max_queues: int = MAX_WORKER_QUEUES) -> None:
        self._client = client
        self._enabled = enabled
        self._max = max_queues
        self._lock = asyncio.Lock()
        self._workers: list[Worker] = []
        self._tasks: list[asyncio.Task[None]] = []
        self.queues: set[str] = set()

    async def ensure(self, queues: Iterable[str]) -> None:
        if not self._enabled:
            return
        from tfo.daemon.worker import build_workers, worker_identity

        async with self._lock:
            missing = sorted(set(queues) - self.queues)
            if len(self.queues) + len(missing) > self._max:
                raise RunError(f"this server already runs workers for {len(self.queues)} task queues (the limit)")
            for queue in missing:
                # A full worker per queue: the workflows and every activity, as the
                # default queue of that config would have.
                for worker in build_workers(self._client, default_queue=queue, identity=worker_identity("mcp")):
                    self._workers.append(worker)
                    self._tasks.append(asyncio.create_task(self._run(worker, queue)))
                self.queues.add(queue)

    @staticmethod
    async def _run(worker: Worker, queue: str) -> None:
        try:
            await worker.run()
        except Exception:
            logger.exception("the worker for task queue %s stopped", queue)

    async def close(self) -> None:
        await asyncio.gather(*(w.shutdown() for w in self._workers), return_exceptions=True)
        await asyncio.gather(*self._tasks, return_exceptions=True)


# -- the tools' library -------------------------------------------------------


@dataclass(frozen=True)
class McpOptions:
    roots: ConfigRoots
    state_dir: Path
    allow_apply: bool = False
    inline_limits: InlineLimits = field(default_factory=InlineLimits)


class TfoTools:
    """What the MCP tools do, as plain async methods that raise `TfoError`."""

    def __init__(self, client: Client, options: McpOptions, pool: WorkerPool) -> None:
        self._client = client
        self._options = options
        self._roots = options.roots
        self._pool = pool

    # configs

    def _load(self, config_path: str | None, config: dict[str, Any] | str | None = None) -> LoadedConfig:
        if config_path is not None and config is not None:
            raise ConfinementError("give either config_path or config, not both")
        if config is not None:
            return confinement.load_inline(self._roots, config, self._options.inline_limits)
        if config_path is None:
            raise ConfinementError("config_path is required (or an inline config)")
        return confinement.load_file(self._roots, config_path)

    def _relative(self, path: Path) -> str:
        for root in self._roots.roots:
            if path.is_relative_to(root):
                return str(path.relative_to(root))
        return path.name

    async def list_workflows(self, config_path: str) -> WorkflowList:
        from tfo.config.durations import format_duration

        loaded = self._load(config_path)
        cfg = loaded.config
        order = {name: i for i, name in enumerate(loaded.dag.by_depth())}
        workspaces = [
            WorkspaceView(
                name=ws.name,
                dir=ws.dir,
                dependsOn=list(ws.depends_on),
                inputs=[
                    InputView(sourceWorkspace=m.source_workspace, sourceOutput=m.source_output, targetVar=m.target_var)
                    for m in ws.inputs
                ],
                operations=[op.value for op in ws.operations],
                taskQueue=ws.task_queue or cfg.task_queue,
                depth=loaded.dag.depth(ws.name),
            )
            for ws in sorted(cfg.workspaces, key=lambda w: order[w.name])
        ]
        schedules = [
            ScheduleView(
                name=s.name,
                cron=s.cron,
                every=format_duration(s.every) if s.every else None,
                workspaces=s.workspaces,
                paused=s.paused,
            )
            for s in cfg.schedules
        ]
        return WorkflowList(
            config=loaded.name,
            config_path=self._relative(loaded.path.resolve()),
            workspaces=workspaces,
            schedules=schedules,
        )

    # runs

    async def execute_workflow(
        self,
        *,
        config_path: str | None,
        config: dict[str, Any] | str | None,
        mode: Mode,
        workspaces: list[str],
    ) -> StartedRun:
        if mode == "apply" and not self._options.allow_apply:
            raise RunError(
                "apply is disabled on this server: it was started without --allow-apply "
                "(plans are allowed; a human can apply with `tfo apply`)"
            )
        loaded = self._load(config_path, config)
        known = set(loaded.dag.names)
        for name in workspaces:
            confinement.check_text(name, "workspace name")
            if name not in known:
                raise RunError(f"workspaces: {confinement.shown(name)} is not a workspace of {loaded.name}")
        request = runs.build_request(
            loaded,
            mode=mode,
            workspaces=workspaces,
            state_dir=self._options.state_dir,
            auto_approve=False,  # never: only a human releases an apply
            trigger="mcp",
        )
        await self._pool.ensure({request.config.task_queue, *(ws.task_queue for ws in request.config.workspaces)})
        run_id = await runs.start_run(self._client, request)
        print(f"tfo mcp: started {mode} run {run_id} of {loaded.name}", file=sys.stderr, flush=True)
        if mode == "apply":
            next_step = (
                f"Poll get_workflow_status({run_id!r}). After the plan the run waits for approval: "
                f"a human must run `tfo approve {run_id}` (or `tfo reject {run_id}`); no tool can approve."
            )
        else:
            next_step = f"Poll get_workflow_status({run_id!r}) until done is true."
        return StartedRun(
            workflow_id=run_id, mode=mode, config=loaded.name, workspaces=request.workspaces, next_step=next_step
        )

    async def _describe(self, workflow_id: str) -> WorkflowExecutionDescription:
        """A tfo run of a config inside the roots; any other ID is "not found"."""
        confinement.check_text(workflow_id, "workflow_id")
        not_found = RunError(f"no tfo run {confinement.shown(workflow_id)} found for the configs of this server")
        if not RUN_ID.fullmatch(workflow_id):
            raise not_found
        try:
            desc = await self._client.get_workflow_handle(workflow_id).describe()
            memo = await desc.memo()
        except RPCError:
            raise not_found from None
        recorded = memo.get("config")
        if not isinstance(recorded, str) or not self._roots.holds_recorded(recorded):
            raise not_found
        return desc

    async def get_workflow_status(self, workflow_id: str) -> RunView:
        desc = await self._describe(workflow_id)
        where = runs.run_location(workflow_id) or {}
        queues = where.get("queues")
        if desc.status == WorkflowExecutionStatus.RUNNING and isinstance(queues, list):
            # A run from an earlier life of this server: its queues need workers again.
            await self._pool.ensure([str(q) for q in queues] + [desc.task_queue])
        report = await self._report(workflow_id, desc)
        return run_view(report)

    async def get_plan_diff(self, workflow_id: str, workspace: str | None) -> PlanDiffView:
        report = await self._report(workflow_id, await self._describe(workflow_id))
        if workspace is not None and workspace not in report.workspaces:
            raise RunError(f"run {workflow_id} has no workspace {confinement.shown(workspace)}")
        return plan_diff_view(report, workspace)

    async def _report(self, workflow_id: str, desc: WorkflowExecutionDescription) -> RunReport:
        if desc.status in _CLOSED:
            return await runs.report(self._client, workflow_id)
        handle = self._client.get_workflow_handle(workflow_id)
        try:
            live = await LiveReport(self._client, handle).fetch(STATUS_TIMEOUT)
        except (TimeoutError, RPCError, WorkflowQueryFailedError):
            raise RunError(f"run {workflow_id} is running but no worker answered; is a tfo worker running?") from None
        if live is None:  # the workflow has not run its first task yet
            mode: Mode = "apply" if workflow_id.startswith("tfo-apply-") else "plan"
            return RunReport(run_id=workflow_id, mode=mode, status=RunStatus.RUNNING)
        return live

    async def list_runs(self, limit: int) -> RunList:
        """Recent runs of configs inside the roots, with tfo's status (as `tfo runs` shows it)."""
        from tfo.daemon.run_list import PARENT_RUNS, run_entries

        mine: list[WorkflowExecution] = []
        scanned = 0
        try:
            async for wf in self._client.list_workflows(PARENT_RUNS, page_size=100):
                scanned += 1
                if scanned > 1000 or len(mine) >= limit:
                    break
                recorded = (await wf.memo()).get("config")
                if isinstance(recorded, str) and self._roots.holds_recorded(recorded):
                    mine.append(wf)
            entries = await run_entries(self._client, mine)
        except RPCError as exc:
            raise RunError(f"cannot list runs: {exc.message}") from None
        return RunList(runs=[RunSummary(**entry.public_json()) for entry in entries])

    async def cancel_run(self, workflow_id: str) -> CancelResult:
        desc = await self._describe(workflow_id)
        if desc.status != WorkflowExecutionStatus.RUNNING:
            raise RunError(f"run {workflow_id} has already ended")
        try:
            await self._client.get_workflow_handle(workflow_id).cancel()
        except RPCError as exc:
            raise RunError(f"cannot cancel run {workflow_id}: {exc.message}") from None
        return CancelResult(workflow_id=workflow_id)

    # drift

    async def get_drift_report(self, config_path: str) -> DriftView:
        from tfo.config.drift_models import DriftReport
        from tfo.daemon.commands.drift import report_json
        from tfo.daemon.drift import fetch_report

        loaded = self._load(config_path)
        await self._pool.ensure([loaded.config.task_queue])
        report = await fetch_report(self._client, loaded.id) or DriftReport(config=loaded.name)
        return DriftView.model_validate(report_json(report))
