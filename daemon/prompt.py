"""Asking on the terminal without a thread, so that Ctrl-C and SIGTERM end the wait.

`input()` in an executor thread cannot be cancelled: a signal stopped the command's
task, but the process then waited for Enter before it could exit.
"""

from __future__ import annotations

import asyncio
import os
import sys


async def read_line(prompt: str) -> str | None:
    """Print `prompt` on stderr and read one line from stdin; None at end of input."""
    sys.stderr.write(prompt)
    sys.stderr.flush()
    loop = asyncio.get_running_loop()
    fd = sys.stdin.fileno()
    done: asyncio.Future[bytes | None] = loop.create_future()
    buffer = bytearray()

    def readable() -> None:
        try:
            chunk = os.read(fd, 4096)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if not chunk:
            if not done.done():
                done.set_result(bytes(buffer) if buffer else None)
            return
        buffer.extend(chunk)
        if b"\n" in buffer and not done.done():
            done.set_result(bytes(buffer.split(b"\n", 1)[0]))

    loop.add_reader(fd, readable)
    try:
        line = await done
    except asyncio.CancelledError:
        sys.stderr.write("\n")  # the hint that follows gets a line of its own
        raise
    finally:
        loop.remove_reader(fd)
    return None if line is None else line.decode(errors="replace")


async def confirm(prompt: str) -> bool:
    """True only if the answer is exactly `yes`."""
    answer = await read_line(prompt)
    return answer is not None and answer.strip() == "yes"
