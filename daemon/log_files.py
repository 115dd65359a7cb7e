"""tfo's own log files: a private directory, files created exclusively.

Crash logs and SDK details can hold paths, variable names and error text from a
user's terraform, so they never go to a shared /tmp path: the directory is the
user's own (0700, never a symlink) and each file is new (O_EXCL, O_NOFOLLOW, 0600),
so another local user cannot plant a link that makes tfo write elsewhere.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import stat
from pathlib import Path

from tfo.config.errors import TfoError


class LogDirError(TfoError):
    """The log directory is unsafe to write to."""


def log_dir() -> Path:
    """TFO_LOG_DIR, else $XDG_STATE_HOME/tfo/logs, else ~/.local/state/tfo/logs."""
    if os.environ.get("TFO_LOG_DIR"):
        return Path(os.environ["TFO_LOG_DIR"]) / "tfo"
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "tfo" / "logs"


def private_dir(path: Path) -> Path:
    """Create `path` (mode 0700) or check an existing one: a real directory, ours, private.

    Raises:
        LogDirError: it is a symlink, not a directory, another user's, or open to others.
    """
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with contextlib.suppress(FileExistsError):
        path.mkdir(mode=0o700)
    info = os.lstat(path)
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
        raise LogDirError(f"log dir {path} is a symlink or not a directory; refusing to write logs there")
    if info.st_uid != os.getuid():
        raise LogDirError(f"log dir {path} belongs to another user; refusing to write logs there")
    if info.st_mode & 0o077:
        os.chmod(path, 0o700, follow_symlinks=False)
    return path


def new_log_file(kind: str) -> tuple[Path, int]:
    """A new, empty file `KIND-STAMP-PID.log` in the log dir, open for writing."""
    directory = private_dir(log_dir())
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    base = f"{kind}-{stamp}-{os.getpid()}"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
    for n in range(100):
        path = directory / (f"{base}.log" if n == 0 else f"{base}-{n}.log")
        try:
            return path, os.open(path, flags, 0o600)
        except FileExistsError:
            continue
    raise LogDirError(f"cannot create a new log file in {directory}")
