"""A detached watcher that runs one `terraform apply` and records how it ended.

    python -m tfo.activities.apply_sentinel PID_FILE RC_FILE LOG_FILE BINARY ARG...

It runs in its own session, so a worker killed with SIGKILL does not take the
apply down half-way. It first writes "HOST PID" to PID_FILE, then runs terraform
with its output in LOG_FILE, and writes terraform's exit code to RC_FILE
(atomically) when it ends. A worker retrying the activity waits for RC_FILE
instead of applying the same plan a second time. SIGINT/SIGTERM are forwarded to
terraform, which then stops gracefully.

The worker-side half of that protocol (is the sentinel alive? did it ever start?)
is here too, so both sides read and write the files the same way.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

# How long a sentinel may take to write its PID file after the worker spawned it.
# Without a PID file or exit code after this, the sentinel never started: the
# worker died (or the spawn failed) before terraform could run.
START_GRACE_S = 30.0


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def main(argv: list[str]) -> int:
    pid_file, rc_file, log_file, *command = argv
    _write_atomically(Path(pid_file), f"{socket.gethostname()} {os.getpid()}")
    with open(log_file, "ab") as log:
        proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=log)

        def forward(signum: int, _frame: object) -> None:
            proc.send_signal(signal.SIGINT if signum == signal.SIGTERM else signum)

        # The group SIGINT from a cancel reaches terraform directly; do not die of it.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, forward)
        rc = proc.wait()
    _write_atomically(Path(rc_file), str(rc))
    return rc


def sentinel_pid(pid_file: Path) -> int | None:
    """The sentinel's pid if it runs on this host; None if unknown or elsewhere."""
    try:
        host, pid = pid_file.read_text().split()
    except (OSError, ValueError):
        return None
    return int(pid) if host == socket.gethostname() else None


def sentinel_alive(pid_file: Path) -> bool:
    """False only when the sentinel is known to be gone (it ran on this host and exited)."""
    pid = sentinel_pid(pid_file)
    if pid is None:
        return True  # not written yet, or on another host: wait for its exit code
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


async def ever_started(pid_file: Path, rc_file: Path, since: float, tick: Callable[[], None]) -> bool:
    """Whether a sentinel spawned at `since` (epoch seconds) wrote its PID or exit code.

    Waits until START_GRACE_S after `since` at most, calling `tick` (a heartbeat)
    meanwhile. False means no terraform apply was launched for it.
    """
    while not (pid_file.exists() or rc_file.exists()):
        if time.time() >= since + START_GRACE_S:
            return False
        tick()
        await asyncio.sleep(0.2)
    return True


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
