"""What counts as cache trouble (never a job's failure) and how a producer's own errors get past it.

    try:
        path = cached_work(guarded(produce))
    except ProducerFailed as failed:
        raise failed.error from None      # the job's own error, unchanged
    except CACHE_TROUBLE:
        ...                               # the cache's problem: go on without it
"""
from __future__ import annotations

import errno
import sqlite3
from pathlib import Path
from typing import Callable

# What the disk level raises when the cache (not the job) is in trouble
CACHE_TROUBLE = (sqlite3.Error, OSError)
# a producer's write failing for these is the cache folder's trouble, not the job's
NO_SPACE = (errno.ENOSPC, errno.EDQUOT, errno.EROFS)


class ProducerFailed(Exception):
    """Carries an exception of the caller's produce() through the cache's own handling."""

    def __init__(self, error: BaseException):
        super().__init__(str(error))
        self.error = error


def guarded(produce: Callable[[Path], None]) -> Callable[[Path], None]:
    """produce() whose own failures pass the cache's trouble handling untouched,
    except a full or read-only disk under the cache, which is the cache's trouble."""
    def run(tmp: Path) -> None:
        try:
            produce(tmp)
        except OSError as exc:
            if exc.errno in NO_SPACE:
                raise
            raise ProducerFailed(exc) from exc
        except BaseException as exc:  # noqa: BLE001 - re-raised unchanged by the caller
            raise ProducerFailed(exc) from exc
    return run
