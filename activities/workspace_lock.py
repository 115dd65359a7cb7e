"""The per-workspace lock of a run on local workspace dirs: a file lock in the dir.

Only one terraform command at a time may run in a workspace, whichever run, process
or worker starts it. For workspaces that are directories on a filesystem every
worker shares (the local layout), the lock is an exclusive `flock` on
`DIR/.terraform/tfo.lock`, taken by the plan or apply activity before it runs
anything there. It costs one system call, where a lock workflow costs a Temporal
execution per workspace and phase (BENCHMARKS.md).

- The terraform processes the activity starts inherit the lock's file descriptor
  (`runner.inheriting`), so a worker that dies leaves the lock held until its
  terraform has ended: no other run starts terraform beside an orphaned plan or apply.
- The file names its holder (run, workspace, attempt). A run that finds the lock held
  by another run gets a `WorkspaceLockHeld` error at once, naming that run: the
  workflow shows "waiting for lock held by run X" and tries again later, or fails
  with `--no-wait`.
  A retry of the same run's workspace (its earlier attempt's terraform still
  running) waits here for it instead.
- The kernel drops a `flock` with the last process holding it: a lock never outlives
  its holders. On NFS, Linux maps `flock` to the server's byte-range locks.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import socket
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from temporalio.exceptions import ApplicationError

from tfo.activities.failures import non_retryable, require_dir
from tfo.activities.runner import inheriting
from tfo.config.errors import ErrorType

LOCK_FILE = Path(".terraform") / "tfo.lock"
# How often a retry polls for its own earlier attempt's lock, heartbeating.
OWN_ATTEMPT_POLL = 0.5


def lock_path(directory: str) -> Path:
    return Path(directory) / LOCK_FILE


def read_holder(directory: str) -> dict[str, str]:
    try:
        text = lock_path(directory).read_text()
        holder = json.loads(text) if text.strip() else {}
    except (OSError, ValueError):
        return {}
    return holder if isinstance(holder, dict) else {}


@contextlib.asynccontextmanager
async def held(
    directory: str, *, run_id: str, workspace: str, attempt: int, heartbeat: Callable[[], None]
) -> AsyncIterator[None]:
    """Hold the workspace's lock for the body; a `WorkspaceLockHeld` error if another run has it."""
    path = lock_path(directory)
    require_dir(directory)
    try:
        path.parent.mkdir(exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise non_retryable(f"cannot create the workspace lock {path}: {exc.strerror}", ErrorType.CONFIG) from None
    try:
        await _acquire(fd, directory, run_id=run_id, workspace=workspace, heartbeat=heartbeat)
        me = {"run_id": run_id, "workspace": workspace, "attempt": attempt, "host": socket.gethostname()}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(me).encode(), 0)
        try:
            with inheriting(fd):
                yield
        finally:
            # Still holding it: a reader that finds the file empty knows it was just freed.
            os.ftruncate(fd, 0)
    finally:
        os.close(fd)


async def _acquire(fd: int, directory: str, *, run_id: str, workspace: str, heartbeat: Callable[[], None]) -> None:
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            pass
        holder = await _holder(directory)
        if holder.get("run_id") != run_id or holder.get("workspace") != workspace:
            raise lock_held(holder.get("run_id") or "unknown")
        # An earlier attempt of this very workspace phase: its terraform is still
        # running (a worker that died, or an attempt that timed out). Wait for it.
        heartbeat()
        await asyncio.sleep(OWN_ATTEMPT_POLL)


async def _holder(directory: str) -> dict[str, str]:
    """The holder's record; the file is empty for the instant after it was taken."""
    for _ in range(3):
        holder = read_holder(directory)
        if holder:
            return holder
        await asyncio.sleep(0.02)
    return {}


def lock_held(holder: str) -> ApplicationError:
    return ApplicationError(
        f"workspace is locked by run {holder}", holder, type=ErrorType.LOCK_HELD, non_retryable=True
    )
