"""A CLI session: a connected client, plus in-process workers where needed.

Embedded mode (no address): start or reuse the state dir's dev server and run a
worker for every queue the config names. Client mode: only a client, unless
`--local-worker` asks for a worker too.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tfo.daemon.connection import ConnectionSettings, connect
from tfo.daemon.embedded import EmbeddedServer, ServerInfo

if TYPE_CHECKING:  # the SDK takes a while to import; see ServerStart
    from temporalio.client import Client


@dataclass
class Session:
    client: Client
    server: ServerInfo | None
    started_server: bool


@contextlib.asynccontextmanager
async def open_session(
    conn: ConnectionSettings,
    *,
    state_dir: Path,
    default_queue: str,
    activity_queues: Sequence[str] = (),
    local_worker: bool = False,
    embedded_worker: bool = True,
    starting: ServerStart | None = None,
) -> AsyncIterator[Session]:
    """Connect, and run workers in embedded mode (unless told not to) or on request.

    Args:
        starting: The embedded server, already being started by the caller.
    """
    with contextlib.ExitStack() as stack:
        info: ServerInfo | None = None
        run_worker = (conn.embedded and embedded_worker) or local_worker
        if conn.embedded:
            starting = starting or stack.enter_context(ServerStart(state_dir))
            if run_worker:
                import tfo.daemon.worker  # noqa: F401 - while the server boots
            info = starting.wait()
        client = await connect(conn, address=info.address if info else None)
        workers = []
        if run_worker:
            from tfo.daemon.worker import build_workers

            workers = build_workers(client, default_queue=default_queue, activity_queues=activity_queues)
        tasks = [asyncio.create_task(w.run()) for w in workers]
        try:
            yield Session(client=client, server=info, started_server=bool(starting and starting.server.started_here))
        finally:
            await asyncio.gather(*(w.shutdown() for w in workers), return_exceptions=True)
            await asyncio.gather(*tasks, return_exceptions=True)


class ServerStart:
    """The embedded server of a state dir, started (or reused) in a background thread.

    The server needs a few hundred milliseconds to boot, and the CLI about a second
    to import the Temporal SDK and tfo's workflows: a command that starts the server
    first and imports meanwhile hides most of one behind the other. Hand it to
    `open_session`, which waits for it; leaving the `with` block releases the server
    (stopping it if this was its last user).
    """

    def __init__(self, state_dir: Path) -> None:
        self.server = EmbeddedServer(state_dir)
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="tfo-server")
        self._started = self._pool.submit(self.server.__enter__)

    def wait(self) -> ServerInfo:
        return self._started.result()

    def __enter__(self) -> ServerStart:
        return self

    def __exit__(self, *exc: object) -> None:
        self._pool.shutdown(wait=True)  # a start still in progress (Ctrl-C) finishes first
        if self.server.info is not None:
            self.server.__exit__(None, None, None)


@contextlib.asynccontextmanager
async def session_for_run(
    conn: ConnectionSettings, run_id: str, *, state_dir: Path | None, with_worker: bool = False
) -> AsyncIterator[Session]:
    """A session that reaches an existing run: in embedded mode, its state dir's server."""
    from tfo.config.errors import RunError
    from tfo.daemon.runs import run_location

    where = run_location(run_id) or {}
    directory = state_dir or (Path(str(where["state_dir"])) if "state_dir" in where else None)
    if conn.embedded and directory is None:
        raise RunError(f"don't know where run {run_id} lives: pass --state-dir, or --temporal-address for a server")
    default_queue = str(where.get("default_queue", "tfo"))
    queues = [str(q) for q in where.get("queues", []) or []]  # type: ignore[attr-defined]
    async with open_session(
        conn,
        state_dir=directory or Path(".tfo"),
        default_queue=default_queue,
        activity_queues=queues,
        local_worker=with_worker,
        embedded_worker=with_worker,
    ) as session:
        yield session
