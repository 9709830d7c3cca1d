"""A first disk cache: atomic writes, per-key locks, hit/miss counts.

(Kept deliberately small; TTL, size limit, Redis level and persistence of the
statistics build on this interface.)
"""
from __future__ import annotations

import json
import os
import tempfile
import threading
from collections import defaultdict
from pathlib import Path
from typing import Callable

from .keys import file_md5


class ArtifactCache:
    def __init__(self, root: Path, enabled: bool = True, scratch: Path | None = None):
        self.root = Path(root)
        self.enabled = enabled
        self.scratch = Path(scratch or tempfile.gettempdir())
        self._locks: dict[str, threading.Lock] = defaultdict(threading.Lock)
        self._guard = threading.Lock()
        self.hits = 0
        self.misses = 0
        if enabled:
            self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str, ext: str) -> Path:
        return self.root / key[:2] / f"{key}{ext}"

    def _lock(self, key: str) -> threading.Lock:
        with self._guard:
            return self._locks[key]

    def get_or_create(self, key: str, ext: str, produce: Callable[[Path], None]) -> Path:
        if not self.enabled:
            self.scratch.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(suffix=ext, dir=self.scratch)
            os.close(fd)
            produce(Path(tmp))
            with self._guard:
                self.misses += 1
            return Path(tmp)
        final = self._path(key, ext)
        with self._lock(key):
            if final.is_file() and final.stat().st_size > 0:
                with self._guard:
                    self.hits += 1
                return final
            final.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(suffix=ext, dir=final.parent, prefix=".tmp-")
            os.close(fd)
            try:
                produce(Path(tmp))
                os.replace(tmp, final)
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
            with self._guard:
                self.misses += 1
            return final

    def get_meta(self, key: str) -> dict | None:
        path = self._path(key, ".json")
        if not self.enabled or not path.is_file():
            return None
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):
            return None

    def put_meta(self, key: str, meta: dict) -> None:
        if not self.enabled:
            return
        path = self._path(key, ".json")
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(suffix=".json", dir=path.parent, prefix=".tmp-")
        with os.fdopen(fd, "w") as fh:
            json.dump(meta, fh)
        os.replace(tmp, path)

    def stats(self) -> dict:
        with self._guard:
            total = self.hits + self.misses
            return {"hits": self.hits, "misses": self.misses,
                    "hit_rate": round(self.hits / total, 4) if total else 0.0}


def open_cache(settings) -> ArtifactCache:
    return ArtifactCache(settings.path("CACHE_DIR"), enabled=settings.CACHE_ENABLED,
                         scratch=settings.path("WORK_DIR") / "uncached")
