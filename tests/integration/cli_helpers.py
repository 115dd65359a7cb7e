"""Drive the real `tfo` console script as subprocesses, in embedded mode.

Every process these helpers start is stopped by PID in a `finally`, and the
dev servers tfo starts on its own are found through /proc and killed the same
way if a test fails before tfo could stop them.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TFO = str(Path(sys.executable).parent / "tfo")
# A safety net against a hung tfo, never an assertion about speed.
HANG_TIMEOUT = 300.0
SDK_ABORT = 134  # the exit code of temporalio/sdk-python#300
# An expected failure (a terraform error, a bad config, a refused action) is one line
# on stderr; a Python traceback there is a defect (details go to tfo's log files).
_DEFECTS = ("Traceback (most recent call last)", "Fatal Python error", "Completing activity as failed")
_WAITING = re.compile(r"waiting for approval: run `tfo approve (\S+)`")

# Settings that would switch tfo to client mode or move its state out of tmp.
_LEAKY_ENV = (
    "TFO_TEMPORAL_ADDRESS",
    "TFO_TEMPORAL_NAMESPACE",
    "TFO_TEMPORAL_TLS_CERT",
    "TFO_TEMPORAL_TLS_KEY",
    "TFO_TEMPORAL_TLS_CA",
    "TFO_TEMPORAL_API_KEY",
    "TFO_STATE_DIR",
)


@dataclass(frozen=True)
class Result:
    args: tuple[str, ...]
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        """The one JSON document on stdout (fails if there is anything else)."""
        return json.loads(self.stdout)

    def __str__(self) -> str:
        return f"tfo {' '.join(self.args)} -> {self.code}\n--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"


def cli_env(tmp: Path) -> dict[str, str]:
    """os.environ (with the terraform fixture's TF_CLI_CONFIG_FILE) in embedded mode, index in tmp."""
    env = {k: v for k, v in os.environ.items() if k not in _LEAKY_ENV}
    env["XDG_STATE_HOME"] = str(tmp / "xdg")
    env["TFO_LOG_DIR"] = str(tmp / "logs")
    env["PYTHONUNBUFFERED"] = "1"
    return env


def dev_servers(marker: Path) -> list[int]:
    """PIDs of live `temporal server start-dev` processes whose command line mentions `marker`."""
    needle = str(marker).encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if b"start-dev" in cmdline and needle in cmdline:
            found.append(int(entry.name))
    return found


def kill_dev_servers(marker: Path) -> list[int]:
    """Kill (by PID) any dev server left for `marker`; return the PIDs that were found."""
    pids = dev_servers(marker)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return pids


def assert_nothing_running(state_dir: Path) -> None:
    """Embedded mode left no dev server and no server.json behind for this state dir."""
    leftovers = dev_servers(state_dir)
    assert leftovers == [], f"dev server(s) still running for {state_dir}: {leftovers}"
    server_json = state_dir / "server" / "server.json"
    assert not server_json.exists(), f"{server_json} was left behind"


def assert_clean(result: Result) -> None:
    """No SDK abort at exit and no traceback on stderr, whatever the outcome."""
    assert result.code != SDK_ABORT, f"the SDK aborted at exit (sdk-python#300)\n{result}"
    for defect in _DEFECTS:
        assert defect not in result.stderr, f"{defect!r} on stderr\n{result}"


def _stop(proc: subprocess.Popen[Any]) -> None:
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait()


class Tfo:
    """Runs `tfo` with one environment; checks that embedded mode cleans up after itself."""

    def __init__(self, tmp: Path, *, cwd: Path) -> None:
        self.env = cli_env(tmp)
        self.cwd = cwd

    def run(self, *args: str | Path, idle: Path | None = None) -> Result:
        """Run `tfo ARGS` to completion.

        Args:
            idle: A state dir that must have no dev server left once the command ends.
        """
        argv = tuple(str(a) for a in args)
        proc = subprocess.Popen(
            [TFO, *argv],
            cwd=self.cwd,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            stdout, stderr = proc.communicate(timeout=HANG_TIMEOUT)
        finally:
            _stop(proc)
        result = Result(argv, proc.returncode, stdout, stderr)
        assert_clean(result)
        if idle is not None:
            assert_nothing_running(idle)
        return result

    @contextlib.contextmanager
    def background(self, *args: str | Path, logs: Path) -> Iterator[Background]:
        """Start `tfo ARGS` with stdin from /dev/null (not a TTY); stop it by PID at the end."""
        logs.mkdir(parents=True, exist_ok=True)
        argv = tuple(str(a) for a in args)
        out, err = logs / "stdout", logs / "stderr"
        with out.open("w") as stdout, err.open("w") as stderr:
            proc = subprocess.Popen(
                [TFO, *argv],
                cwd=self.cwd,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=stdout,
                stderr=stderr,
            )
        try:
            yield Background(argv, proc, out, err)
        finally:
            _stop(proc)


@dataclass
class Background:
    args: tuple[str, ...]
    proc: subprocess.Popen[Any]
    stdout_path: Path
    stderr_path: Path

    def stderr(self) -> str:
        return self.stderr_path.read_text()

    def wait_for_approval(self) -> str:
        """Block until tfo asks for approval; return the run id it names."""
        deadline = time.monotonic() + HANG_TIMEOUT
        while True:
            match = _WAITING.search(self.stderr())
            if match:
                return match.group(1)
            if self.proc.poll() is not None:
                raise AssertionError(f"tfo ended before asking for approval:\n{self.finish()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"tfo never asked for approval:\n{self.stderr()}")
            time.sleep(0.1)

    def finish(self) -> Result:
        """Wait for the process to end on its own and return what it printed."""
        self.proc.wait(timeout=HANG_TIMEOUT)
        result = Result(self.args, self.proc.returncode, self.stdout_path.read_text(), self.stderr())
        assert_clean(result)
        return result
