"""Starting a saved plan's apply under its detached sentinel, and waiting for its exit code.

The sentinel (apply_sentinel) runs terraform apply in a session of its own and
records its exit code, so an apply outlives a worker that dies: the retry waits for
the recorded code instead of applying again.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable
from pathlib import Path

from tfo.activities import apply_sentinel as sentinel
from tfo.activities import plan_files
from tfo.activities.failures import non_retryable
from tfo.activities.runner import TerraformRunner, inherited_fds
from tfo.config.errors import ErrorType, TerraformError


async def start(
    runner: TerraformRunner, binary: str, args: list[str], *, cwd: str, rc_file: Path, log_file: Path
) -> None:
    await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tfo.activities.apply_sentinel",
        str(rc_file.parent / "apply.pid"),
        str(rc_file),
        str(log_file),
        binary,
        *args,
        cwd=cwd,
        env={**runner.env, "PYTHONPATH": plan_files.project_path()},
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
        start_new_session=True,
        # The sentinel outlives a dying worker, and keeps the workspace locked.
        pass_fds=inherited_fds(),
    )


async def wait(runner: TerraformRunner, rc_file: Path, started: Path, *, heartbeat: Callable[[], None]) -> int:
    """Wait for the sentinel's exit-code file, heartbeating; SIGINT it on cancel."""
    began = time.monotonic()
    pid_file = rc_file.parent / "apply.pid"
    if not await sentinel.ever_started(pid_file, rc_file, started.stat().st_mtime, heartbeat):
        # Retryable: the retry finds no sentinel and applies afresh.
        raise TerraformError("the apply process did not start")
    while not rc_file.exists():
        try:
            await asyncio.sleep(0.1)
        except asyncio.CancelledError:
            pid = sentinel.sentinel_pid(pid_file)
            if pid is not None:
                await runner.interrupt(pid, rc_file.exists)
            raise
        if time.monotonic() - began >= runner.heartbeat_every:
            began = time.monotonic()
            heartbeat()
        if not sentinel.sentinel_alive(pid_file) and not rc_file.exists():
            raise non_retryable(
                "the apply process vanished without an exit code; check the workspace state before applying again",
                ErrorType.APPLY_FAILED,
            )
    runner.finished("apply", time.monotonic() - began)
    return int(rc_file.read_text().strip() or "1")
