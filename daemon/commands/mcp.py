"""`tfo mcp`: serve tfo's tools to AI agents over MCP (stdio)."""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path

from tfo.daemon.confinement import InlineLimits
from tfo.daemon.connection import ConnectionSettings


def mcp(
    roots: list[Path],
    conn: ConnectionSettings,
    *,
    allow_apply: bool,
    state_dir: Path | None,
    max_inline_workspaces: int = InlineLimits.max_workspaces,
    max_inline_bytes: int = InlineLimits.max_bytes,
) -> int:
    from tfo.daemon.confinement import ConfigRoots
    from tfo.daemon.mcp_server import serve  # mcp is heavy: imported only here
    from tfo.daemon.mcp_tools import McpOptions

    config_roots = ConfigRoots.from_paths(roots)
    if state_dir is None and os.environ.get("TFO_STATE_DIR"):
        state_dir = Path(os.environ["TFO_STATE_DIR"])
    directory = (state_dir or config_roots.primary / ".tfo").resolve()
    limits = InlineLimits(max_workspaces=max_inline_workspaces, max_bytes=max_inline_bytes)
    options = McpOptions(roots=config_roots, state_dir=directory, allow_apply=allow_apply, inline_limits=limits)
    with contextlib.suppress(asyncio.CancelledError):  # SIGTERM: a normal way to stop a server
        asyncio.run(serve(conn, options))
    return 0
