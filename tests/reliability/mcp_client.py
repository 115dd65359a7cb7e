"""A real MCP client session with `tfo mcp` over stdio (the process is stopped by PID at the end)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from mcp import ClientSession, StdioServerParameters, stdio_client
from mcp.types import CallToolResult

from tests.integration.cli_helpers import TFO, cli_env
from tests.reliability.processes import GIVE_UP, processes_mentioning


def text(result: CallToolResult) -> str:
    return "\n".join(getattr(block, "text", "") for block in result.content)


@contextlib.asynccontextmanager
async def mcp_session(tmp: Path, state: Path, *args: str | Path, log: Path) -> AsyncIterator[ClientSession]:
    """`tfo mcp --state-dir STATE ARGS`; whatever is left of it afterwards is killed by PID."""
    params = StdioServerParameters(
        command=TFO, args=["mcp", "--state-dir", str(state), *(str(a) for a in args)], env=cli_env(tmp), cwd=tmp
    )
    try:
        with log.open("w") as errlog:
            async with (
                stdio_client(params, errlog=errlog) as (read, write),
                ClientSession(read, write, read_timeout_seconds=120) as session,
            ):
                await session.initialize()
                yield session
    finally:
        for pid, cmdline in processes_mentioning(f"mcp --state-dir {state}").items():
            if "start-dev" not in cmdline:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


async def call(session: ClientSession, tool: str, **arguments: Any) -> tuple[dict[str, Any], str]:
    """A tool's structured result and its text."""
    result = await session.call_tool(tool, arguments)
    assert not result.is_error, text(result)
    assert result.structured_content is not None
    return result.structured_content, text(result)


async def wait_done(session: ClientSession, run_id: str) -> tuple[dict[str, Any], str]:
    deadline = time.monotonic() + GIVE_UP
    while True:
        status, shown = await call(session, "get_workflow_status", workflow_id=run_id)
        if status["done"]:
            return status, shown
        assert time.monotonic() < deadline, f"run {run_id} never ended: {status}"
        await asyncio.sleep(0.2)
