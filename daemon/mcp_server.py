"""tfo's MCP server: AI agents list workspaces, start runs, and read status and drift.

The tools are thin over `daemon.runs` and `daemon.drift`. What an agent may touch is
bounded by `daemon.confinement` (config roots), and what it may do by the server's
options: plans always, applies only with `--allow-apply`, and even then every apply
stops at the approval gate until a human runs `tfo approve`. No tool approves.

stdout is the MCP transport: nothing else may ever be written to it. Progress and
logs go to stderr.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel, Field
from temporalio.client import Client, WorkflowExecutionDescription, WorkflowExecutionStatus
from temporalio.service import RPCError
from temporalio.worker import Worker

from config.errors import RunError, TfoError
from config.loader import LoadedConfig
from config.payloads import Mode, RunReport, RunStatus
from daemon import confinement, runs
from daemon.confinement import ConfigRoots, ConfinementError
from daemon.connection import ConnectionSettings

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
_DONE = {RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED, RunStatus.REJECTED}


# -- results ------------------------------------------------------------------


class InputView(BaseModel):
    sourceWorkspace: str
    sourceOutput: str
    targetVar: str


class WorkspaceView(BaseModel):
    name: str
    dir: str = Field(description="As written in the config, relative to its workspace_root.")
    dependsOn: list[str]
    inputs: list[InputView]
    operations: list[str]
    taskQueue: str
    depth: int = Field(description="0 for a workspace with no dependencies.")


class ScheduleView(BaseModel):
    name: str
    cron: str | None = None
    every: str | None = None
    workspaces: list[str] | None = Field(default=None, description="None means all workspaces.")
    paused: bool = False


class WorkflowList(BaseModel):
    config: str = Field(description="The config's name.")
    config_path: str
    workspaces: list[WorkspaceView] = Field(description="In dependency order.")
    schedules: list[ScheduleView]


class StartedRun(BaseModel):
    workflow_id: str
    mode: Mode
    status: Literal["started"] = "started"
    config: str
    workspaces: list[str] = Field(description="The selected workspaces plus everything they depend on.")
    next_step: str


class ChangesView(BaseModel):
    create: int = 0
    update: int = 0
    delete: int = 0
    replace: int = 0


class ResourceView(BaseModel):
    address: str
    action: str


class WorkspaceRunView(BaseModel):
    status: str
    changes: ChangesView
    resources: list[ResourceView]
    outputs: dict[str, Any] = Field(description='Sensitive values show as "(sensitive)".')
    error: str | None = None


class RunView(BaseModel):
    """`tfo plan/apply/status --json`, plus whether the run is done and what comes next."""

    run_id: str
    mode: Mode
    status: str = Field(description="running, awaiting_approval, succeeded, failed, cancelled or rejected.")
    changes: bool
    workspaces: dict[str, WorkspaceRunView]
    config: str = ""
    done: bool
    next_step: str | None = None


class DriftWorkspaceView(BaseModel):
    status: str
    cause: str | None = None
    checked_at: str
    age_seconds: int
    changes: ChangesView
    resources: list[ResourceView]
    drift: list[ResourceView]
    output_changes: list[str]
    at_risk: bool
    at_risk_from: list[str]
    error: str | None = None
    run_id: str


class DriftView(BaseModel):
    """`tfo drift --json`."""

    config: str
    workspaces: dict[str, DriftWorkspaceView]
    alerts_pending: int
    alerts_sent: int


class RunSummary(BaseModel):
    run_id: str
    status: str
    started: str
    closed: str | None = None


class RunList(BaseModel):
    runs: list[RunSummary]


class CancelResult(BaseModel):
    workflow_id: str
    status: Literal["cancel_requested"] = "cancel_requested"


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
        from daemon.worker import build_workers, worker_identity

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
            return confinement.load_inline(self._roots, config)
        if config_path is None:
            raise ConfinementError("config_path is required (or an inline config)")
        return confinement.load_file(self._roots, config_path)

    def _relative(self, path: Path) -> str:
        for root in self._roots.roots:
            if path.is_relative_to(root):
                return str(path.relative_to(root))
        return path.name

    async def list_workflows(self, config_path: str) -> WorkflowList:
        from config.durations import format_duration

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
        return _run_view(report)

    async def _report(self, workflow_id: str, desc: WorkflowExecutionDescription) -> RunReport:
        if desc.status in _CLOSED:
            return await runs.report(self._client, workflow_id)
        handle = self._client.get_workflow_handle(workflow_id)
        try:
            live = await handle.query("status", result_type=RunReport, rpc_timeout=STATUS_TIMEOUT)
        except (TimeoutError, RPCError):
            raise RunError(f"run {workflow_id} is running but no worker answered; is a tfo worker running?") from None
        if live is None:  # the workflow has not run its first task yet
            mode: Mode = "apply" if workflow_id.startswith("tfo-apply-") else "plan"
            return RunReport(run_id=workflow_id, mode=mode, status=RunStatus.RUNNING)
        return live

    async def list_runs(self, limit: int) -> RunList:
        found: list[RunSummary] = []
        scanned = 0
        try:
            async for wf in self._client.list_workflows("WorkflowType = 'ParentWorkflow'", page_size=100):
                scanned += 1
                if scanned > 1000 or len(found) >= limit:
                    break
                recorded = (await wf.memo()).get("config")
                if not isinstance(recorded, str) or not self._roots.holds_recorded(recorded):
                    continue
                found.append(
                    RunSummary(
                        run_id=wf.id,
                        status=wf.status.name.lower() if wf.status else "unknown",
                        started=wf.start_time.isoformat(),
                        closed=wf.close_time.isoformat() if wf.close_time else None,
                    )
                )
        except RPCError as exc:
            raise RunError(f"cannot list runs: {exc.message}") from None
        return RunList(runs=found)

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
        from config.drift_models import DriftReport
        from daemon.commands.drift import report_json
        from daemon.drift import fetch_report

        loaded = self._load(config_path)
        await self._pool.ensure([loaded.config.task_queue])
        report = await fetch_report(self._client, loaded.name) or DriftReport(config=loaded.name)
        return DriftView.model_validate(report_json(report))


def _run_view(report: RunReport) -> RunView:
    done = report.status in _DONE
    next_step = None
    if report.status == RunStatus.AWAITING_APPROVAL:
        next_step = (
            f"The run waits for a human: `tfo approve {report.run_id}` or `tfo reject {report.run_id}`. "
            "No tool can approve."
        )
    elif not done:
        next_step = "Poll again: the run is still going."
    fields = {**report.public_json(), "config": report.config, "done": done, "next_step": next_step}
    return RunView.model_validate(fields)


# -- readable text ------------------------------------------------------------


def _changes(c: ChangesView) -> str:
    return f"+{c.create} ~{c.update} -{c.delete} ±{c.replace}"


def workflows_text(result: WorkflowList) -> str:
    lines = [f"{result.config} ({result.config_path}): {len(result.workspaces)} workspaces, in dependency order"]
    for ws in result.workspaces:
        deps = f" <- {', '.join(ws.dependsOn)}" if ws.dependsOn else ""
        lines.append(f"  {ws.name}{deps}")
        lines.extend(f"      input {m.targetVar} = {m.sourceWorkspace}.{m.sourceOutput}" for m in ws.inputs)
    for s in result.schedules:
        when = s.cron or f"every {s.every}"
        scope = ", ".join(s.workspaces) if s.workspaces else "all workspaces"
        lines.append(f"  schedule {s.name}: {when} ({scope}){' paused' if s.paused else ''}")
    return "\n".join(lines)


def started_text(result: StartedRun) -> str:
    return (
        f"Started {result.mode} run {result.workflow_id} of {result.config} "
        f"({', '.join(result.workspaces)}). {result.next_step}"
    )


def run_text(view: RunView) -> str:
    lines = [f"{view.mode} run {view.run_id}: {view.status}{' (done)' if view.done else ''}"]
    for name, ws in view.workspaces.items():
        line = f"  {name}: {ws.status} {_changes(ws.changes)}"
        if ws.error:
            line += f" - {ws.error}"
        lines.append(line)
        lines.extend(f"      {r.action:8} {r.address}" for r in ws.resources)
    if view.next_step:
        lines.append(view.next_step)
    return "\n".join(lines)


def drift_text(view: DriftView) -> str:
    if not view.workspaces:
        return f"{view.config}: no drift check has run yet"
    lines = [f"{view.config}: latest drift check of each workspace"]
    for name, ws in view.workspaces.items():
        line = f"  {name}: {ws.status} {ws.age_seconds}s ago {_changes(ws.changes)}"
        if ws.cause:
            line += f" ({ws.cause.replace('_', ' ')})"
        if ws.at_risk:
            line += f" at risk from {', '.join(ws.at_risk_from)}"
        if ws.error:
            line += f" - {ws.error}"
        lines.append(line)
    return "\n".join(lines)


def runs_text(result: RunList) -> str:
    if not result.runs:
        return "no runs yet"
    return "\n".join(f"{r.run_id}  {r.status}  {r.started}" for r in result.runs)


# -- the MCP server -----------------------------------------------------------

M = TypeVar("M", bound=BaseModel)


def _one_line(text: str) -> str:
    return " ".join(text.split())


async def _tool_result(call: Awaitable[M], text: Callable[[M], str]) -> CallToolResult:
    """Run a tool body: a structured result plus readable text, or a one-line error."""
    try:
        model = await call
    except TfoError as exc:
        raise ToolError(_one_line(str(exc))) from None
    except Exception:
        logger.exception("tool failed unexpectedly")
        raise ToolError("unexpected internal error; the details are in the tfo mcp server's log (stderr)") from None
    return CallToolResult(
        content=[TextContent(type="text", text=text(model))],
        structured_content=model.model_dump(mode="json"),
    )


ConfigPath = Annotated[
    str,
    Field(
        description="Path of an infra.yaml (or a directory holding one) inside a config root; "
        "relative paths are relative to the config roots."
    ),
]
WorkflowId = Annotated[str, Field(description="The workflow_id that execute_workflow returned.")]

class OneLineErrors:
    """Server middleware: a tool error is one line, also when the SDK rejects the
    arguments (pydantic's report spans lines and links to its docs)."""

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        result = await call_next(ctx)
        if ctx.method != "tools/call":
            return result
        if isinstance(result, dict) and result.get("isError"):  # the runner hands on the wire form
            for block in result.get("content") or []:
                if isinstance(block, dict) and isinstance(block.get("text"), str):
                    block["text"] = one_line_error(block["text"])
        elif isinstance(result, CallToolResult) and result.is_error:
            for item in result.content:
                if isinstance(item, TextContent):
                    item.text = one_line_error(item.text)
        return result


def one_line_error(text: str) -> str:
    lines = [line.strip() for line in text.splitlines()]
    lines = [re.sub(r"\s*\[type=[^\]]*\]", "", line) for line in lines if line and not line.startswith("For further")]
    head, rest = lines[0], lines[1:]
    if "validation error" in head and len(rest) % 2 == 0:
        details = [f"{rest[i]}: {rest[i + 1]}" for i in range(0, len(rest), 2)]
    else:
        details = rest
    return "; ".join([head, *details]) if details else head


READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False)

INSTRUCTIONS = """\
tfo runs Terraform workspaces as a dependency graph on Temporal.
1. list_workflows(config_path) shows a config's workspaces, their dependencies and inputs.
2. execute_workflow(config_path, mode="plan") starts a plan and returns a workflow_id at once.
3. get_workflow_status(workflow_id) until done is true: per-workspace status, changes, resources, outputs, errors.
4. get_drift_report(config_path) shows the latest drift check of each workspace.
Applies need a server started with --allow-apply, and then stop at an approval gate that only a human
can release with `tfo approve RUN_ID`. Configs must lie inside the server's config roots: {roots}.
"""


def build_server(tools: TfoTools, roots: ConfigRoots) -> MCPServer:
    server: MCPServer = MCPServer(
        "tfo",
        instructions=INSTRUCTIONS.format(roots=roots.describe()),
        log_level="WARNING",
        middleware=[OneLineErrors()],
    )

    @server.tool(annotations=READ_ONLY)
    async def list_workflows(config_path: ConfigPath) -> Annotated[CallToolResult, WorkflowList]:
        """List a config's workspaces with their dependsOn, inputs and task queue, in dependency order,
        and its drift schedules. Reads the config only."""
        return await _tool_result(tools.list_workflows(config_path), workflows_text)

    @server.tool(
        annotations=ToolAnnotations(
            read_only_hint=False, destructive_hint=True, idempotent_hint=False, open_world_hint=True
        )
    )
    async def execute_workflow(
        config_path: Annotated[
            str | None, Field(description="An infra.yaml inside a config root. Give this or config.")
        ] = None,
        config: Annotated[
            dict[str, Any] | str | None,
            Field(
                description="An inline infra.yaml (an object, or YAML text), validated like a file; its relative "
                "paths are relative to the first config root and must stay inside the roots. "
                "Its runs are named inline-NAME."
            ),
        ] = None,
        mode: Annotated[
            Literal["plan", "apply"],
            Field(description="plan (default) or apply. apply needs --allow-apply and a human's `tfo approve`."),
        ] = "plan",
        workspaces: Annotated[
            list[str] | None,
            Field(description="Only these workspaces and everything they depend on; default: all."),
        ] = None,
    ) -> Annotated[CallToolResult, StartedRun]:
        """Start a plan (or an apply) of a config's workspace graph and return its workflow_id at once,
        without waiting. Each call starts a new run with a unique ID. An apply always stops at the
        approval gate until a human runs `tfo approve`; no tool can approve."""
        call = tools.execute_workflow(config_path=config_path, config=config, mode=mode, workspaces=workspaces or [])
        return await _tool_result(call, started_text)

    @server.tool(annotations=READ_ONLY)
    async def get_workflow_status(workflow_id: WorkflowId) -> Annotated[CallToolResult, RunView]:
        """A run's status: per workspace its status, changes, resources, outputs (sensitive ones hidden)
        and error; the same shape as `tfo plan --json`, plus done and the next step."""
        return await _tool_result(tools.get_workflow_status(workflow_id), run_text)

    @server.tool(annotations=READ_ONLY)
    async def get_drift_report(config_path: ConfigPath) -> Annotated[CallToolResult, DriftView]:
        """The latest drift check of each workspace of a config, as `tfo drift --json` shows it."""
        return await _tool_result(tools.get_drift_report(config_path), drift_text)

    @server.tool(annotations=READ_ONLY)
    async def list_runs(
        limit: Annotated[int, Field(ge=1, le=200, description="At most this many, newest first.")] = 20,
    ) -> Annotated[CallToolResult, RunList]:
        """Recent runs of the configs inside this server's config roots."""
        return await _tool_result(tools.list_runs(limit), runs_text)

    @server.tool(
        annotations=ToolAnnotations(
            read_only_hint=False, destructive_hint=True, idempotent_hint=True, open_world_hint=True
        )
    )
    async def cancel_run(workflow_id: WorkflowId) -> Annotated[CallToolResult, CancelResult]:
        """Cancel a running run: running terraform is interrupted, dependents are not started.
        An apply cancelled midway may leave a workspace partly applied."""
        return await _tool_result(
            tools.cancel_run(workflow_id), lambda r: f"run {r.workflow_id}: cancellation requested"
        )

    return server


# -- serving over stdio -------------------------------------------------------


@contextlib.asynccontextmanager
async def _backend(conn: ConnectionSettings, options: McpOptions) -> AsyncIterator[tuple[Client, WorkerPool]]:
    """One session for the server's whole life: in embedded mode, the state dir's dev
    server and this process's workers."""
    from daemon.session import open_session

    async with open_session(
        conn, state_dir=options.state_dir, default_queue="tfo", embedded_worker=False
    ) as session:
        pool = WorkerPool(session.client, enabled=conn.embedded)
        try:
            await pool.ensure(["tfo"])
            where = f"embedded Temporal server, UI {session.server.ui_url}" if session.server else conn.address
            print(
                f"tfo mcp: serving configs under {options.roots.describe()} ({where}); "
                f"applies {'need a human approval' if options.allow_apply else 'disabled'}",
                file=sys.stderr,
                flush=True,
            )
            yield session.client, pool
        finally:
            print("tfo mcp: stopping", file=sys.stderr, flush=True)
            with contextlib.redirect_stdout(sys.stderr):
                await pool.close()


async def serve(conn: ConnectionSettings, options: McpOptions) -> None:
    """Serve MCP over stdio until the client closes stdin (or SIGTERM)."""
    loop = asyncio.get_running_loop()
    main = asyncio.current_task()
    assert main is not None
    loop.add_signal_handler(signal.SIGTERM, main.cancel)
    try:
        async with contextlib.AsyncExitStack() as stack:
            # Nothing but the protocol may reach stdout, and the transport only takes
            # it over once it runs: until then, a stray print goes to stderr.
            with contextlib.redirect_stdout(sys.stderr):
                client, pool = await stack.enter_async_context(_backend(conn, options))
            # Runs first on the way out. A client stops a server by closing stdin, then
            # escalates to SIGTERM and SIGKILL within seconds: the cleanup (workers, the
            # embedded server) must not be cut short by that SIGTERM.
            stack.callback(loop.add_signal_handler, signal.SIGTERM, lambda: None)
            server = build_server(TfoTools(client, options, pool), options.roots)
            await server.run_stdio_async()
    finally:
        loop.remove_signal_handler(signal.SIGTERM)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
