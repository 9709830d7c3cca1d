"""Scratch files for CACHE_ENABLED=false: a fresh file per call, owned by the caller.

They live in WORK_DIR/uncached. The cache remembers the ones it handed out so that
`release(path)` or `discard_mine()` (called by ArtifactCache.close() at the end of a
job) deletes them; `sweep(older_than_s)` removes what crashed processes left behind.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable


class ScratchFiles:
    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self._mine: set[Path] = set()
        self._lock = threading.Lock()

    def make(self, kind: str, ext: str, produce: Callable[[Path], None]) -> Path:
        """A new file written by produce(path); deleted again when produce fails."""
        self.folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(suffix=ext, dir=self.folder, prefix=f"{kind}-")
        os.close(fd)
        path = Path(tmp)
        try:
            produce(path)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        with self._lock:
            self._mine.add(path)
        return path

    def adopt(self, source: Path, kind: str, ext: str) -> Path:
        """Move a finished file (e.g. one the cache could not store) in as a scratch file."""
        return self.make(kind, ext, lambda path: shutil.move(str(source), str(path)))

    def release(self, path: Path) -> bool:
        """Delete one file handed out here; False (and nothing deleted) for any other path."""
        path = Path(path)
        with self._lock:
            if path not in self._mine:
                return False
            self._mine.discard(path)
        path.unlink(missing_ok=True)
        return True

    def discard_mine(self) -> int:
        """Delete every file handed out here; returns how many existed."""
        with self._lock:
            mine, self._mine = self._mine, set()
        removed = 0
        for path in mine:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed += 1
        return removed

    def sweep(self, older_than_s: float) -> int:
        """Delete other processes' scratch files older than older_than_s; returns how many."""
        if not self.folder.is_dir():
            return 0
        with self._lock:
            mine = set(self._mine)
        removed, cutoff = 0, time.time() - older_than_s
        for path in self.folder.iterdir():
            with contextlib.suppress(FileNotFoundError):
                if path.is_file() and path not in mine and path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed += 1
        return removed
