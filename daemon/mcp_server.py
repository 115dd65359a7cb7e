"""tfo's MCP server: AI agents list workspaces, start runs, and read status and drift.

This module declares the tools (names, descriptions, annotations, arguments), turns
errors into one line, and serves over stdio. What the tools do is in
`daemon.mcp_tools`, and what they return in `daemon.mcp_views` (`get_plan_diff`'s in
`daemon.mcp_plan_diff`). Plans always, applies only with `--allow-apply`, and even
then every apply stops at the approval gate until a human runs `tfo approve`. No tool
approves.

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
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, Any, Literal, TypeVar

from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel, Field
from temporalio.client import Client

from tfo.config.errors import TfoError
from tfo.daemon.confinement import ConfigRoots
from tfo.daemon.connection import ConnectionSettings
from tfo.daemon.mcp_plan_diff import PlanDiffView, plan_diff_text
from tfo.daemon.mcp_tools import McpOptions, TfoTools, WorkerPool
from tfo.daemon.mcp_views import (
    CancelResult,
    DriftView,
    RunList,
    RunView,
    StartedRun,
    WorkflowList,
    drift_text,
    run_text,
    runs_text,
    started_text,
    workflows_text,
)

logger = logging.getLogger("tfo.mcp")


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
    async def get_plan_diff(
        workflow_id: WorkflowId,
        workspace: Annotated[str | None, Field(description="Only this workspace; default all.")] = None,
    ) -> Annotated[CallToolResult, PlanDiffView]:
        """A run's attribute-level diff per workspace (path, before, after), bounded and with every
        sensitive value shown as "(sensitive)"; the same diff as `tfo show RUN_ID`. Without a
        workspace, whole workspaces in name order up to 256 KiB; the rest are named in `omitted`."""
        return await _tool_result(tools.get_plan_diff(workflow_id, workspace), plan_diff_text)

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
    from tfo.daemon.session import open_session

    async with open_session(conn, state_dir=options.state_dir, default_queue="tfo", embedded_worker=False) as session:
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
