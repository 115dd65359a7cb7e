"""Keep a worker process's resident memory close to what it actually uses (glibc only).

A worker decodes and encodes many payloads of up to a few hundred KB (config pages,
segment requests, run reports, ledger records). With glibc's defaults those land in
the main heap: its mmap threshold rises to 32 MB after the first big block is
freed, and a heap rarely shrinks while anything lives above its free space. After a
2,000-workspace apply, the daemon's heap held 47 MB of free memory next to 23 MB in
use. So a worker process:

- serves blocks of 128 KiB and more with mmap, returned to the system when freed
  (the threshold is fixed, not raised by the first free);
- gives the free pages back every TRIM_EVERY seconds (`malloc_trim`).

Elsewhere (musl, macOS) it does nothing. Measured in BENCHMARKS.md ("Memory at
10,000 workspaces").
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading
import time

TRIM_EVERY = 10.0
_MMAP_THRESHOLD = 128 * 1024
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_started = threading.Event()


def _glibc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
    except OSError:
        return None
    return libc if hasattr(libc, "malloc_trim") and hasattr(libc, "mallopt") else None


def keep_lean() -> bool:
    """Tune malloc and start trimming, once per process; False where malloc is not glibc's."""
    if _started.is_set():
        return True
    libc = _glibc()
    if libc is None:
        return False
    _started.set()
    libc.mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD)
    libc.mallopt(_M_TRIM_THRESHOLD, _MMAP_THRESHOLD)
    threading.Thread(target=_trim_forever, args=(libc,), name="tfo-malloc-trim", daemon=True).start()
    return True


def _trim_forever(libc: ctypes.CDLL) -> None:
    while True:
        time.sleep(TRIM_EVERY)
        libc.malloc_trim(0)
