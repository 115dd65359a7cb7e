"""Processes a reliability test starts, and finding what they left behind.

Every process is stopped by PID, in a `finally`.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pty
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from tests.integration.cli_helpers import Tfo

TFO = str(Path(sys.executable).parent / "tfo")
# A safety net against a hang, never an assertion about speed.
GIVE_UP = 180.0
T = TypeVar("T")


def wait_for(what: str, probe: Callable[[], T | None], *, timeout: float = GIVE_UP, every: float = 0.05) -> T:
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(every)


def processes_mentioning(text: str) -> dict[int, str]:
    """Live processes (not zombies) whose command line contains `text`."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline:
            found[int(entry.name)] = cmdline
    return found


def kill_all(pids: dict[int, str] | list[int]) -> None:
    for pid in list(pids):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def stop(proc: subprocess.Popen[bytes], *, group: bool = False) -> None:
    """SIGTERM (the process or its group), then SIGKILL if it does not go."""
    if proc.poll() is not None:
        return
    send = os.killpg if group else os.kill
    with contextlib.suppress(ProcessLookupError):
        send(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            send(proc.pid, signal.SIGKILL)
        proc.wait()


@contextlib.contextmanager
def started(*procs: subprocess.Popen[bytes]) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Hold processes (more may be appended) and stop them all at the end."""
    held = list(procs)
    try:
        yield held
    finally:
        for proc in held:
            stop(proc)


def start_worker(address: str, queue: str, identity: str, log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """`tfo worker` against a server, in a session of its own."""
    with log.open("ab") as out:
        return subprocess.Popen(
            [
                TFO,
                "worker",
                "--temporal-address",
                address,
                "--default-queue",
                queue,
                "--identity",
                identity,
                "--metrics-port",
                "0",
            ],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )


SHIM = """#!/bin/sh
# Logs every plan and apply (start, end, and the SHA-256 of an applied plan), then runs terraform.
case "$1" in
  plan|apply)
    for last; do :; done
    sum=-
    if [ "$1" = apply ] && [ -f "$last" ]; then sum=$(sha256sum "$last" | cut -d' ' -f1); fi
    echo "start $(date +%s.%N) $$ $1 $sum $PWD" >> {log}
    # A caught signal waits for terraform (which gets it too, from the process group) to
    # stop; without the trap an interrupted command would never log its end.
    trap : INT TERM
    {delay}
    {real} "$@"
    rc=$?
    echo "end $(date +%s.%N) $$ $1 $rc $PWD" >> {log}
    exit $rc
    ;;
esac
exec {real} "$@"
"""


def write_shim(path: Path, real: str, log: Path, *, plan_delay: float = 0) -> str:
    """A terraform wrapper that logs plan/apply calls (optionally slowing plans down)."""
    delay = f'[ "$1" = plan ] && sleep {plan_delay}' if plan_delay else ":"
    path.write_text(SHIM.format(real=real, log=log, delay=delay))
    path.chmod(0o755)
    allow_binary(path)
    return str(path)


def allow_binary(path: Path) -> None:
    """Let this test's workers (in-process, and the tfo processes it starts after this)
    run `path`: a worker runs only binaries its operator allowed."""
    allowed = [item for item in os.environ.get("TFO_ALLOWED_BINARIES", "").split(os.pathsep) if item]
    os.environ["TFO_ALLOWED_BINARIES"] = os.pathsep.join([*allowed, str(path)])


@contextlib.contextmanager
def lock_holder(state_file: Path, seconds: float) -> Iterator[subprocess.Popen[bytes]]:
    """Another process holding the local backend's state lock (an fcntl write lock, as
    terraform takes it) for `seconds`; the lock is taken before this returns."""
    code = (
        "import fcntl, os, sys, time\n"
        "fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o644)\n"
        "fcntl.lockf(fd, fcntl.LOCK_EX)\n"
        "print('locked', flush=True)\n"
        "time.sleep(float(sys.argv[2]))\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(state_file), str(seconds)], stdout=subprocess.PIPE, stdin=subprocess.DEVNULL
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == b"locked"
        yield proc
    finally:
        stop(proc)


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def shim_calls(log: Path) -> list[tuple[str, float, int, str, str, str]]:
    """(kind, time, pid, command, sha-or-rc, cwd) for every logged line."""
    rows = []
    for line in log.read_text().splitlines():
        kind, stamp, pid, command, extra, cwd = line.split(" ", 5)
        rows.append((kind, float(stamp), int(pid), command, extra, cwd))
    return rows


def max_overlap(log: Path, *, cwd: str | None = None) -> int:
    """The most plan/apply processes alive at once (in one directory, if given)."""
    events = []
    for kind, stamp, _pid, _command, _extra, where in shim_calls(log):
        if cwd is None or where == cwd:
            events.append((stamp, 0 if kind == "end" else 1))
    running = peak = 0
    for _stamp, starts in sorted(events):
        running += 1 if starts else -1
        peak = max(peak, running)
    return peak


@contextlib.contextmanager
def in_own_group(tfo: Tfo, *args: str | Path, logs: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`tfo ARGS` in a new session (its own process group) with a pty as stdin."""
    logs.mkdir(parents=True, exist_ok=True)
    primary, secondary = pty.openpty()
    with (logs / "stdout").open("wb") as out, (logs / "stderr").open("wb") as err:
        proc = subprocess.Popen(
            [TFO, *(str(a) for a in args)], cwd=tfo.cwd, env=tfo.env, stdin=secondary, stdout=out, stderr=err,
            start_new_session=True,
        )
    os.close(secondary)
    try:
        yield proc
    finally:
        stop(proc, group=True)
        os.close(primary)
