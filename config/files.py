"""Reading a file a config names, safely: regular files only, and never more than a limit.

A FIFO would block the reader forever and a device such as /dev/zero would fill its
memory, so both are refused before anything is read.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from tfo.config.errors import ConfigError


def read_limited(path: Path, *, limit: int, what: str) -> bytes:
    """The bytes of a regular file of at most `limit` bytes.

    Raises:
        ConfigError: it is missing, not a regular file, unreadable or too large.
    """
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise ConfigError(f"{what} not found", path=str(path)) from None
    except IsADirectoryError:
        raise ConfigError(f"is a directory, not a {what}", path=str(path)) from None
    except OSError as exc:
        raise ConfigError(f"cannot read {what}: {exc.strerror}", path=str(path)) from None
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise ConfigError(f"is a directory, not a {what}", path=str(path))
        if not stat.S_ISREG(mode):
            raise ConfigError(f"{what} is not a regular file", path=str(path))
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:
        raise ConfigError(f"cannot read {what}: {exc.strerror}", path=str(path)) from None
    finally:
        os.close(fd)
    if size > limit:
        raise ConfigError(f"{what} is too large (more than {limit} bytes)", path=str(path))
    return b"".join(chunks)


def module_problem(directory: Path) -> str | None:
    """Why `directory` cannot be a terraform module, or None if it can.

    A directory without `.tf` or `.tf.json` files is an empty module to terraform: a
    typo in `dir` would plan to destroy everything the workspace's state holds.
    """
    try:
        mode = directory.stat().st_mode
    except FileNotFoundError:
        return "does not exist"
    except OSError as exc:
        return f"cannot be read: {exc.strerror}"
    if not stat.S_ISDIR(mode):
        return "is not a directory"
    try:
        names = [entry.name for entry in os.scandir(directory) if entry.is_file()]
    except OSError as exc:
        return f"cannot be read: {exc.strerror}"
    if not any(name.endswith((".tf", ".tf.json")) for name in names):
        return "has no .tf or .tf.json files"
    return None
