"""A worker process gives freed heap memory back to the system (daemon/memory)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from tfo.daemon import memory

pytestmark = pytest.mark.skipif(memory._glibc() is None, reason="malloc is not glibc's")

# 100 MB of 1 KB blocks (malloc's heap, not Python's small-object arenas), one more
# block left above them so that glibc's own trimming of the heap's top cannot help.
_PROGRAM = textwrap.dedent(
    """
    import time
    from tfo.daemon import memory

    def rss_mb():
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) // 1024 for line in f if line.startswith("VmRSS"))

    memory.TRIM_EVERY = 0.2
    n = 1000
    blocks = [b"x" * n for _ in range(100_000)]
    above = b"y" * n
    full = rss_mb()
    del blocks
    time.sleep(0.5)
    freed = rss_mb()
    assert memory.keep_lean() and memory.keep_lean()
    time.sleep(1.0)
    print(full, freed, rss_mb())
    """
)


def test_freed_heap_memory_goes_back_to_the_system() -> None:
    out = subprocess.run([sys.executable, "-c", _PROGRAM], capture_output=True, text=True, check=True, timeout=60)
    full, freed, trimmed = (int(v) for v in out.stdout.split())
    assert freed > full - 20, "glibc returned the blocks by itself: the test no longer shows anything"
    assert trimmed < freed - 80, (full, freed, trimmed)
