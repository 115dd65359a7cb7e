"""Running and measuring processes: wall time, peak RSS, and clean stops by PID.

Peak RSS is the kernel's `VmHWM` from `/proc/PID/status`, sampled in a thread: for
the tfo process itself, for the embedded Temporal server it launches, and for a
running daemon. (`ru_maxrss` from `wait4` is no use here: it also covers reaped
descendants, so a CLI's figure would be its server's or terraform's.)
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path


def vm_hwm_kb(pid: int) -> int | None:
    """The peak resident set size of a live process, in KiB."""
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time a process has used itself (not its children)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / _TICKS


def server_pid(state_dir: Path) -> int | None:
    """The pid of the embedded server serving `state_dir`, if it is up."""
    try:
        return int(json.loads((state_dir / "server" / "server.json").read_text())["pid"])
    except (OSError, ValueError, KeyError):
        return None


class PeakSampler:
    """Samples VmHWM of the processes `pids()` names, every `interval` seconds, in a thread."""

    def __init__(self, pids: Callable[[], Sequence[int]], *, interval: float = 0.05) -> None:
        self._pids = pids
        self._interval = interval
        self._stop = threading.Event()
        self.peaks: dict[int, int] = {}
        self.cpu: dict[int, float] = {}
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self._interval)

    def sample(self) -> None:
        for pid in self._pids():
            kb = vm_hwm_kb(pid)
            if kb is not None:
                self.peaks[pid] = max(kb, self.peaks.get(pid, 0))
            cpu = cpu_seconds(pid)
            if cpu is not None:
                self.cpu[pid] = max(cpu, self.cpu.get(pid, 0.0))

    def __enter__(self) -> PeakSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def peak_mb(self) -> float | None:
        return max(self.peaks.values()) / 1024 if self.peaks else None

    def cpu_total(self) -> float | None:
        """CPU seconds of every sampled process (as last seen)."""
        return sum(self.cpu.values()) if self.cpu else None


@dataclass
class Measured:
    """A finished command."""

    argv: list[str]
    returncode: int
    seconds: float
    maxrss_mb: float
    stdout: str
    stderr: str
    server_hwm_mb: float | None = None
    extra: dict[str, float | None] = field(default_factory=dict)

    def check(self, *ok: int) -> Measured:
        if self.returncode not in (ok or (0,)):
            tail = "\n".join(self.stderr.strip().splitlines()[-15:])
            raise RuntimeError(f"{' '.join(self.argv[:3])}... exited {self.returncode}:\n{tail}")
        return self


def run_measured(
    argv: list[str],
    *,
    env: dict[str, str],
    cwd: Path | None = None,
    state_dir: Path | None = None,
    watch: Sequence[int] = (),
) -> Measured:
    """Run a command to completion; measure its wall time and peak RSS.

    Args:
        state_dir: Also sample the peak RSS of this state dir's embedded server.
        watch: Also sample these pids (e.g. a running daemon); reported in `extra`.
    """
    out_dir = Path(os.environ.get("TMPDIR", "/tmp"))
    pid_box: list[int] = []
    with (
        open(out_dir / f"bench-{os.getpid()}.out", "w+b") as out,
        open(out_dir / f"bench-{os.getpid()}.err", "w+b") as err,
    ):
        # ru_maxrss of wait4 would include reaped descendants (the embedded server,
        # terraform), so the process's own peak is sampled from /proc instead.
        own = PeakSampler(lambda: pid_box, interval=0.02)
        server = PeakSampler(lambda: [p for p in [server_pid(state_dir)] if p] if state_dir else [])
        watched = PeakSampler(lambda: list(watch))
        existing = server_pid(state_dir) if state_dir else None
        server_cpu_before = (cpu_seconds(existing) or 0.0) if existing else 0.0
        watched_cpu_before = sum(c for c in (cpu_seconds(p) for p in watch) if c is not None)
        with own, server, watched:
            started = time.perf_counter()
            proc = subprocess.Popen(argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
            pid_box.append(proc.pid)
            try:
                # Reap with waitid(WNOWAIT) first, so /proc/PID survives for a last sample.
                os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)
                seconds = time.perf_counter() - started
                own_cpu = cpu_seconds(proc.pid)  # a zombie still reports its CPU time
                own.sample()
                _, status, usage = os.wait4(proc.pid, 0)
            except BaseException:
                proc.kill()
                proc.wait()
                raise
            proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    for path in (out_dir / f"bench-{os.getpid()}.out", out_dir / f"bench-{os.getpid()}.err"):
        path.unlink(missing_ok=True)
    return Measured(
        argv=argv,
        returncode=proc.returncode,
        seconds=seconds,
        maxrss_mb=own.peak_mb() or 0.0,
        stdout=stdout,
        stderr=stderr,
        server_hwm_mb=server.peak_mb(),
        extra={
            "watched_hwm_mb": watched.peak_mb(),
            "own_cpu_s": own_cpu,
            # the process and every descendant it reaped (terraform, an embedded server)
            "tree_cpu_s": usage.ru_utime + usage.ru_stime,
            # a server started by this command counts whole; a running one by its increase
            "server_cpu_s": (server.cpu_total() or 0.0) - server_cpu_before if server.cpu else None,
            "watched_cpu_s": (sum(c for c in (cpu_seconds(p) for p in watch) if c is not None) - watched_cpu_before)
            if watch
            else None,
        },
    )


_SERVER_LINE = re.compile(r"embedded Temporal server at (\S+)")


@dataclass
class Daemon:
    """A running `tfo daemon`, stopped by PID."""

    proc: subprocess.Popen[bytes]
    address: str
    log: Path
    state_dir: Path
    stopped: tuple[int, float] | None = None

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self, timeout: float = 30) -> tuple[int, float]:
        """SIGTERM, wait (SIGKILL after `timeout`); return (exit code, its own peak RSS in MB)."""
        if self.stopped is not None:
            return self.stopped
        peak = (vm_hwm_kb(self.proc.pid) or 0) / 1024
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while True:
            pid, status = os.waitpid(self.proc.pid, os.WNOHANG)
            if pid:
                self.proc.returncode = os.waitstatus_to_exitcode(status)
                self.stopped = (self.proc.returncode, peak)
                return self.stopped
            if time.monotonic() > deadline:
                self.proc.kill()
            time.sleep(0.05)


@contextlib.contextmanager
def running_daemon(argv: list[str], *, env: dict[str, str], state_dir: Path, log: Path) -> Iterator[Daemon]:
    """Start `tfo daemon` in embedded mode, wait until it serves, and always stop it."""
    with open(log, "wb") as handle:
        proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=handle, stderr=handle)
    daemon: Daemon | None = None
    try:
        deadline = time.monotonic() + 60
        address = None
        while time.monotonic() < deadline:
            text = log.read_text(errors="replace")
            found = _SERVER_LINE.search(text)
            address = address or (found.group(1) if found else None)
            if address and "running;" in text:
                break
            if proc.poll() is not None:
                raise RuntimeError(f"tfo daemon exited {proc.returncode}:\n{text[-2000:]}")
            time.sleep(0.05)
        else:
            raise RuntimeError(f"tfo daemon did not come up:\n{log.read_text(errors='replace')[-2000:]}")
        assert address is not None
        daemon = Daemon(proc=proc, address=address, log=log, state_dir=state_dir)
        yield daemon
    finally:
        if daemon is not None:
            daemon.stop()
        elif proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
