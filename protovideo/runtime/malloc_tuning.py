"""glibc malloc settings for a long-running worker of large, short-lived arrays.

Frames, pictures and audio are big numpy arrays made and freed all the time by
several threads. glibc's defaults let each thread keep its own arena and raise
the mmap threshold after every large free, so freed frames stay in the heap and
RSS creeps up. A fixed mmap threshold (large blocks always come from mmap and go
straight back) and two arenas keep peak and resting RSS down. No-op off glibc.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import functools

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8


@functools.lru_cache(maxsize=1)
def _libc():
    name = ctypes.util.find_library("c")
    if not name:
        return None
    try:
        libc = ctypes.CDLL(name)
        libc.mallopt  # noqa: B018 - glibc only
        libc.malloc_trim  # noqa: B018
    except (OSError, AttributeError):
        return None
    return libc


def tune() -> bool:
    """Call once at start, before threads are made. True when applied."""
    libc = _libc()
    if libc is None:
        return False
    ok = libc.mallopt(M_MMAP_THRESHOLD, 1 << 20) == 1
    ok &= libc.mallopt(M_TRIM_THRESHOLD, 8 << 20) == 1
    ok &= libc.mallopt(M_ARENA_MAX, 2) == 1
    return bool(ok)


def trim() -> bool:
    """Give freed heap memory back to the system; True where it ran (glibc)."""
    libc = _libc()
    if libc is None:
        return False
    libc.malloc_trim(0)
    return True
