"""Who follows a run: a lock file held by the live CLI process that drives it.

`tfo plan|apply|resume` holds `STATE/followers/RUN_ID.lock` with `fcntl.flock` while it
follows a run, and writes its PID there. The kernel drops the lock when the process
ends in any way (Ctrl-C, SIGTERM, kill -9, a crash), so a dead CLI never blocks a
later resumption, and a live one is never told "resuming" about its own run by a
second shell. The marker is per host: followers on other machines are not seen.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path


def _path(state_dir: Path, run_id: str) -> Path:
    directory = state_dir / "followers"
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    return directory / f"{run_id}.lock"


class FollowerLock:
    """This process follows a run until `release`."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd

    @classmethod
    def take(cls, state_dir: Path, run_id: str) -> FollowerLock | None:
        """The run's follower lock, or None if another live process holds it."""
        path = _path(state_dir, run_id)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        return cls(path, fd)

    def release(self, *, ended: bool = False) -> None:
        """Stop following; `ended`: the run is over, so its marker goes too."""
        if self._fd is None:
            return
        if ended:
            with contextlib.suppress(OSError):
                self.path.unlink()
        os.close(self._fd)
        self._fd = None


def follower_pid(state_dir: Path, run_id: str) -> int | None:
    """The PID recorded by the run's follower (meaningful only while its lock is held)."""
    try:
        return int(_path(state_dir, run_id).read_text().strip() or 0) or None
    except (OSError, ValueError):
        return None
