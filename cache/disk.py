"""Disk level: artifact files under CACHE_DIR with an SQLite index, safe for many processes.

Layout of CACHE_DIR:
    index.sqlite                     entries, meta and counters (see cache/index.py)
    objects/ab/<key>.<sha256><ext>   artifact files (ab = first two characters of the key)
    objects/ab/.tmp-*                files being written; renamed into place when complete
    locks/<key>.lock                 held while a key is being made or removed

A file is hashed, then published by os.replace of the complete temp file under a name
that holds its SHA-256, then indexed with its size and digest; readers check both
(cache/integrity.py), so a truncated, bit-flipped or missing file is a miss (dropped
under the key's lock by the cache and made again), never a torn or damaged read.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
import time
from pathlib import Path
from typing import Callable, Iterator

from .index import Entry, Index
from .integrity import DigestMismatch, check_file, file_digest, forget, object_name, remember
from .locks import LockBusy, file_lock
from .memory import MemoryLevel

TEMP_PREFIX = ".tmp-"


class DiskLevel:
    def __init__(self, root: Path, memory: MemoryLevel):
        self.root = Path(root)
        self.objects = self.root / "objects"
        self.locks = self.root / "locks"
        self.objects.mkdir(parents=True, exist_ok=True)
        self.locks.mkdir(parents=True, exist_ok=True)
        self.index = Index(self.root / "index.sqlite", objects=self.objects, locks=self.locks,
                           temp_prefix=TEMP_PREFIX)
        self.memory = memory

    # -- paths and locks --------------------------------------------------
    def folder(self, key: str) -> Path:
        return self.objects / key[:2]

    def path(self, entry: Entry) -> Path:
        """Where an entry's file is: its name holds its key, digest and extension."""
        return self.folder(entry.key) / object_name(entry.key, entry.digest, entry.ext)

    def key_lock(self, key: str, blocking: bool = True):
        return file_lock(self.locks / f"{key}.lock", blocking=blocking)

    def maintenance_lock(self, blocking: bool = False):
        return file_lock(self.locks / "maintenance.lock", blocking=blocking, remove=False)

    # -- reading ----------------------------------------------------------
    def find(self, key: str) -> Entry | None:
        return self.index.lookup(key)

    def verify(self, entry: Entry) -> str:
        """'' when the entry's file is whole (its size and SHA-256), else why not
        ('missing', 'size', 'checksum')."""
        return check_file(self.memory, entry.key, self.path(entry), entry.size, entry.digest)

    # -- writing ----------------------------------------------------------
    @contextlib.contextmanager
    def temp_file(self, key: str, ext: str) -> Iterator[Path]:
        """A temp path next to the final file (same filesystem); removed unless published."""
        folder = self.folder(key)
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(suffix=ext, dir=folder, prefix=TEMP_PREFIX)
        os.close(fd)
        try:
            yield Path(tmp)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)

    def publish(self, key: str, ext: str, kind: str, tmp: Path, ttl_s: float | None,
                created: float | None = None, digest: str | None = None,
                counters: dict[str, int] | None = None) -> Entry:
        """Hash a complete temp file, move it into place and index it (caller holds the key
        lock); `digest`: what the bytes must hash to (a copy from another level)."""
        size = os.path.getsize(tmp)
        if size == 0:
            raise RuntimeError(f"cache: the producer of {kind} artifact {key} wrote an empty file")
        found = file_digest(tmp)
        if digest is not None and found != digest:
            raise DigestMismatch(f"the copy of {kind} artifact {key} does not match its digest")
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        now = time.time()
        entry = Entry(key, ext, kind, size, found, created or now, ttl_s, now)
        final = self.path(entry)
        os.replace(tmp, final)
        try:
            self.index.insert(entry, counters)
        except BaseException:
            # not indexed (a full disk, say): the file goes back to its temp name, so no
            # file stands in objects/ without its row, and the caller still has the bytes
            with contextlib.suppress(OSError):
                os.replace(final, tmp)
            raise
        remember(self.memory, key, final, found)
        return entry

    def write(self, key: str, ext: str, kind: str, produce: Callable[[Path], None],
              ttl_s: float | None, counters: dict[str, int] | None = None) -> Entry:
        with self.temp_file(key, ext) as tmp:
            produce(tmp)
            if not tmp.is_file():
                raise RuntimeError(f"cache: the producer of {kind} artifact {key} wrote no file")
            return self.publish(key, ext, kind, tmp, ttl_s, counters=counters)

    # -- removing ---------------------------------------------------------
    def remove(self, entry: Entry, counters: dict[str, int] | None = None) -> None:
        """Drop the row (if still this entry) and its file (caller holds the key lock)."""
        self.index.delete(entry.key, entry.digest)
        forget(self.memory, entry.key)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path(entry))
        if counters:
            self.index.count(counters)

    def remove_key(self, key: str) -> bool:
        """Drop every file, row and meta of a key (caller holds the key lock)."""
        entry = self.index.lookup(key)
        removed = self.index.delete_meta(key)
        if entry is not None:
            self.remove(entry)
            removed = True
        folder = self.folder(key)
        if folder.is_dir():   # <key>.<digest><ext>, and <key><ext> of the layout before digests
            for stray in [*folder.glob(f"{key}.*"), folder / key]:
                with contextlib.suppress(FileNotFoundError):
                    stray.unlink()
                    removed = True
        return removed

    def try_remove(self, entry: Entry, counters: dict[str, int] | None = None) -> bool:
        """Remove an entry unless its key is busy in some process; True when removed."""
        try:
            with self.key_lock(entry.key, blocking=False):
                current = self.index.lookup(entry.key)
                if current is None or current.digest != entry.digest:
                    return False
                self.remove(current, counters)
                return True
        except LockBusy:
            return False

    # -- upkeep -----------------------------------------------------------
    def evict(self, max_bytes: int, keep: set[str], protect_since: float) -> int:
        """Drop least recently used entries until the total is within max_bytes.

        Entries in `keep` or used at or after `protect_since` stay (a job may still hold
        their paths), so the folder can exceed the limit for a while. Returns how many
        entries were evicted.
        """
        _count, total = self.index.totals()
        if total <= max_bytes:
            return 0
        evicted = 0
        try:
            with self.maintenance_lock(blocking=False):
                for entry in self.index.entries(order_by_atime=True):
                    if total <= max_bytes:
                        break
                    if entry.key in keep or entry.atime >= protect_since:
                        continue
                    if self.try_remove(entry, {"evictions": 1}):
                        total -= entry.size
                        evicted += 1
        except LockBusy:
            pass  # another process is evicting right now
        return evicted

    def sweep_files(self, older_than_s: float, temp_older_than_s: float) -> int:
        """Delete files no index row names (older than older_than_s) and temp files
        (older than temp_older_than_s: younger ones may be in the making); returns how many."""
        removed = 0
        now = time.time()
        indexed = {self.path(e).name for e in self.index.entries()}
        for folder in self.objects.iterdir() if self.objects.is_dir() else ():
            if not folder.is_dir():
                continue
            for file in folder.iterdir():
                name = file.name
                is_temp = name.startswith(TEMP_PREFIX)
                try:
                    age = now - file.stat().st_mtime
                except FileNotFoundError:
                    continue
                if age < (temp_older_than_s if is_temp else older_than_s):
                    continue  # maybe being written or just published
                if not is_temp and name in indexed:
                    continue
                with contextlib.suppress(FileNotFoundError):
                    file.unlink()
                    removed += 1
        return removed

    def sweep_locks(self, older_than_s: float) -> int:
        """Remove per-key lock files left by killed processes (only when free)."""
        removed, cutoff = 0, time.time() - older_than_s
        for lock in self.locks.glob("*.lock"):
            if lock.name == "maintenance.lock":
                continue
            try:
                if lock.stat().st_mtime >= cutoff:
                    continue
                with file_lock(lock, blocking=False):  # unlinks it on release
                    removed += 1
            except (LockBusy, FileNotFoundError):
                continue
        return removed

    def size_bytes(self) -> int:
        return self.index.totals()[1]
