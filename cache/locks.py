"""File locks (fcntl.flock) that serialize threads and processes on one cache folder.

A per-key lock file is created on demand and removed by its holder on release, so
lock files do not pile up. The classic race (a waiter locks a file that was just
unlinked while another process creates and locks a new one) is closed by checking,
after the lock is taken, that the path still names the inode that was locked.
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import os
from pathlib import Path
from typing import Iterator


class LockBusy(RuntimeError):
    """A non-blocking lock was held by someone else."""


def _acquire(path: Path, blocking: bool) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise LockBusy(str(path)) from None
            raise
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)  # the file was replaced while we waited: lock the new one


@contextlib.contextmanager
def file_lock(path: Path, blocking: bool = True, remove: bool = True) -> Iterator[None]:
    """Hold an exclusive lock on `path`; raises LockBusy when not blocking and taken.

    remove=True unlinks the lock file on release (per-key locks); keep it for
    long-lived locks such as the eviction lock.
    """
    fd = _acquire(Path(path), blocking)
    try:
        yield
    finally:
        if remove:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
        os.close(fd)
