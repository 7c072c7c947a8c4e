"""glibc malloc setting for a serving worker: one arena, so that freed temporaries are reused.

A batch of 100 reviews allocates numpy temporaries of 0.1-2.5 MB each, ~16 MB at its peak with
`nblr-ctx`, and a worker runs requests in a thread pool. glibc gives each thread that contends
for the heap an arena of its own (up to 8 per core), and every arena keeps the peak of the
batches it served: with 8 concurrent batches of 100, an `nblr-ctx` worker held ~222 MB against
~94 MB after its first prediction. With one arena (and `ContextScorer` scoring one batch at a
time), the same load leaves it at ~120 MB (see benchmarks/README.md). Returning large blocks to
the system instead (a fixed `M_MMAP_THRESHOLD`) also cut the memory, but doubled the CPU time of
a batch (page faults on every fresh mapping).

Skipped off glibc, and when the environment sets glibc's own MALLOC_ARENA_MAX (the operator's
choice wins).
"""

from __future__ import annotations

import ctypes
import os
import platform

M_ARENA_MAX = -8  # glibc's malloc.h


def use_one_arena(system: str | None = None, libc: str | None = None) -> bool:
    """Let every thread of this process allocate from the main arena (call before starting
    threads). True when the setting was applied. `system` and `libc` default to this machine's
    (`platform.system()`, `platform.libc_ver()`)."""
    system = platform.system() if system is None else system
    libc = platform.libc_ver()[0] if libc is None else libc
    if system != "Linux" or libc != "glibc":
        return False
    if "MALLOC_ARENA_MAX" in os.environ:
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_ARENA_MAX, 1))
