"""Running terraform as a subprocess: argument building and process-group handling.

Every command runs in its own process group, so a cancel reaches terraform and
anything it spawned: SIGINT first (terraform then saves state and releases its
lock), SIGKILL only after a grace period. If the worker dies, a plan-type command
runs to its end on its own and releases its lock; applies run under a detached
sentinel, so that a dead worker never leaves a half-written state behind (see
apply_sentinel). No Python code runs between fork and exec (no preexec_fn): in a
process with the Temporal SDK's threads, that can deadlock the child before exec,
and with it the worker's event loop, which waits for the exec.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Callable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from tfo.activities.binary_policy import check_binary

MAX_CAPTURE = 64 * 1024
_DATA_COMMANDS = ("show", "output")

# Descriptors that the terraform processes of the current activity inherit: the
# workspace's lock (workspace_lock), which they then hold as long as they run.
_inherited: ContextVar[tuple[int, ...]] = ContextVar("tfo_inherited_fds", default=())


def inherited_fds() -> tuple[int, ...]:
    return _inherited.get()


@contextlib.contextmanager
def inheriting(fd: int) -> Iterator[None]:
    """Within the block, every terraform process the current task starts inherits `fd`."""
    token = _inherited.set((*_inherited.get(), fd))
    try:
        yield
    finally:
        _inherited.reset(token)


@dataclass(frozen=True)
class CommandResult:
    """A finished terraform command."""

    command: str
    returncode: int
    stdout: str
    stderr: str
    seconds: float


def terraform_env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment terraform runs with: the worker's, plus automation settings.

    Provider credentials and TF_CLI_CONFIG_FILE pass through unchanged.
    """
    env = dict(os.environ if base is None else base)
    env["TF_IN_AUTOMATION"] = "1"
    env["TF_INPUT"] = "0"
    env["CHECKPOINT_DISABLE"] = "1"
    return env


def resolve_binary(binary: str, *, cwd: Path | None = None) -> str:
    """The real path to execute for `binary` (e.g. `terraform` or `tofu`), if this
    worker allows it (see activities.binary_policy: the worker decides, not the payload).

    Raises:
        TerraformError: it is not found, or this worker does not allow it
            (`BinaryNotAllowedError`).
    """
    return check_binary(binary, cwd=cwd)


def seconds_arg(value: timedelta) -> str:
    return f"{int(value.total_seconds())}s"


def init_args() -> list[str]:
    return ["init", "-input=false", "-no-color"]


def validate_args() -> list[str]:
    return ["validate", "-no-color"]


def plan_args(*, plan_file: Path, var_file: Path, lock_timeout: timedelta) -> list[str]:
    return [
        "plan",
        "-input=false",
        "-no-color",
        "-detailed-exitcode",
        f"-lock-timeout={seconds_arg(lock_timeout)}",
        f"-var-file={var_file}",
        f"-out={plan_file}",
    ]


def show_args(*, plan_file: Path) -> list[str]:
    return ["show", "-json", "-no-color", str(plan_file)]


def apply_args(*, plan_file: Path, lock_timeout: timedelta) -> list[str]:
    return [
        "apply",
        "-input=false",
        "-no-color",
        "-auto-approve",
        f"-lock-timeout={seconds_arg(lock_timeout)}",
        str(plan_file),
    ]


def output_args() -> list[str]:
    return ["output", "-json", "-no-color"]


def state_pull_args() -> list[str]:
    return ["state", "pull"]


class TerraformRunner:
    """Runs terraform commands with heartbeats and graceful cancellation.

    Args:
        env: The environment for terraform (default: `terraform_env()`).
        grace: How long to wait after SIGINT before SIGKILL.
        heartbeat_every: Seconds between heartbeat callbacks while a command runs.
        on_finish: Called with (command, seconds) after each command, for metrics.
    """

    def __init__(
        self,
        *,
        env: Mapping[str, str] | None = None,
        grace: timedelta = timedelta(seconds=30),
        heartbeat_every: float = 2.0,
        on_finish: Callable[[str, float], None] | None = None,
    ) -> None:
        self._env = dict(env) if env is not None else terraform_env()
        self._grace = grace.total_seconds()
        self._every = heartbeat_every
        self._on_finish = on_finish

    async def run(
        self,
        binary: str,
        args: list[str],
        *,
        cwd: Path,
        heartbeat: Callable[[], None] | None = None,
    ) -> CommandResult:
        """Run one command to completion; stdout and stderr are captured."""
        started = time.monotonic()
        proc = await asyncio.create_subprocess_exec(
            resolve_binary(binary, cwd=cwd),
            *args,
            cwd=cwd,
            env=self._env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
            # terraform holds the workspace's lock with the activity (workspace_lock).
            pass_fds=inherited_fds(),
        )
        communicate = asyncio.ensure_future(proc.communicate())
        try:
            out, err = await self._wait(communicate, heartbeat)
        except asyncio.CancelledError:
            await self.interrupt(proc.pid, lambda: proc.returncode is not None)
            communicate.cancel()
            raise
        seconds = time.monotonic() - started
        if self._on_finish:
            self._on_finish(args[0], seconds)
        return CommandResult(
            command=args[0],
            returncode=proc.returncode if proc.returncode is not None else -1,
            # `show -json` and `output -json` are data, parsed whole (a plan JSON of many MB
            # is normal); other commands' output is only kept for error messages.
            stdout=_captured(out, whole=args[0] in _DATA_COMMANDS),
            stderr=err.decode(errors="replace")[-MAX_CAPTURE:],
            seconds=seconds,
        )

    async def _wait(
        self, future: asyncio.Future[tuple[bytes, bytes]], heartbeat: Callable[[], None] | None
    ) -> tuple[bytes, bytes]:
        while True:
            done, _ = await asyncio.wait({future}, timeout=self._every)
            if done:
                return future.result()
            if heartbeat:
                heartbeat()

    async def interrupt(self, pid: int, finished: Callable[[], bool]) -> None:
        """SIGINT the process group of `pid`, then SIGKILL it after the grace period."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGINT)
        deadline = time.monotonic() + self._grace
        while time.monotonic() < deadline and not finished() and _group_alive(pid):
            await asyncio.sleep(0.1)
        if not finished() and _group_alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)

    @property
    def env(self) -> dict[str, str]:
        return dict(self._env)

    @property
    def heartbeat_every(self) -> float:
        return self._every

    def finished(self, command: str, seconds: float) -> None:
        if self._on_finish:
            self._on_finish(command, seconds)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _captured(out: bytes, *, whole: bool) -> str:
    text = out.decode(errors="replace")
    return text if whole else text[-MAX_CAPTURE * 16 :]
