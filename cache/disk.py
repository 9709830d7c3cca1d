"""Disk level: artifact files under CACHE_DIR with an SQLite index, safe for many processes.

Layout of CACHE_DIR:
    index.sqlite            entries, meta and counters (see cache/index.py)
    objects/ab/<key><ext>   artifact files (ab = first two characters of the key)
    objects/ab/.tmp-*       files being written; renamed into place when complete
    locks/<key>.lock        held while a key is being made or removed

A file is published by os.replace of a complete temp file, then indexed with its
size and MD5; readers check both, so a truncated, corrupt or missing file is a
miss (and is dropped under the key's lock by the cache), never a torn read.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
import time
from pathlib import Path
from typing import Callable, Iterator

from .index import Entry, Index
from .keys import file_md5
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
    def path(self, key: str, ext: str) -> Path:
        return self.objects / key[:2] / f"{key}{ext}"

    def key_lock(self, key: str, blocking: bool = True):
        return file_lock(self.locks / f"{key}.lock", blocking=blocking)

    def maintenance_lock(self, blocking: bool = False):
        return file_lock(self.locks / "maintenance.lock", blocking=blocking, remove=False)

    # -- reading ----------------------------------------------------------
    def find(self, key: str) -> Entry | None:
        return self.index.lookup(key)

    def verify(self, entry: Entry) -> str:
        """'' when the entry's file is complete, else why not ('missing', 'size', 'checksum')."""
        path = self.path(entry.key, entry.ext)
        try:
            st = os.stat(path)
        except FileNotFoundError:
            return "missing"
        if st.st_size != entry.size:
            return "size"
        stamp = (st.st_ino, st.st_size, st.st_mtime_ns, entry.md5)
        if self.memory.get(("verified", entry.key)) == stamp:
            return ""  # this process already checksummed this very file
        try:
            digest = file_md5(path)
        except FileNotFoundError:
            return "missing"
        if digest != entry.md5:
            return "checksum"
        self.memory.put(("verified", entry.key), stamp)
        return ""

    # -- writing ----------------------------------------------------------
    @contextlib.contextmanager
    def temp_file(self, key: str, ext: str) -> Iterator[Path]:
        """A temp path next to the final file (same filesystem); removed unless published."""
        folder = self.path(key, ext).parent
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(suffix=ext, dir=folder, prefix=TEMP_PREFIX)
        os.close(fd)
        try:
            yield Path(tmp)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)

    def publish(self, key: str, ext: str, kind: str, tmp: Path, ttl_s: float | None,
                created: float | None = None, md5: str | None = None,
                counters: dict[str, int] | None = None) -> Entry:
        """Move a complete temp file into place and index it (caller holds the key lock)."""
        size = os.path.getsize(tmp)
        if size == 0:
            raise RuntimeError(f"cache: the producer of {kind} artifact {key} wrote an empty file")
        digest = file_md5(tmp)
        if md5 is not None and digest != md5:
            raise RuntimeError(f"cache: {kind} artifact {key} does not match its checksum")
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        final = self.path(key, ext)
        os.replace(tmp, final)
        now = time.time()
        entry = Entry(key, ext, kind, size, digest, created or now, ttl_s, now)
        try:
            self.index.insert(entry, counters)
        except BaseException:
            # not indexed (a full disk, say): the file goes back to its temp name, so no
            # file stands in objects/ without its row, and the caller still has the bytes
            with contextlib.suppress(OSError):
                os.replace(final, tmp)
            raise
        with contextlib.suppress(FileNotFoundError):  # a concurrent `cache clear` may have won
            st = os.stat(final)
            self.memory.put(("verified", key), (st.st_ino, st.st_size, st.st_mtime_ns, digest))
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
        self.index.delete(entry.key, entry.md5)
        self.memory.drop(("verified", entry.key))
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path(entry.key, entry.ext))
        if counters:
            self.index.count(counters)

    def remove_key(self, key: str) -> bool:
        """Drop every file, row and meta of a key (caller holds the key lock)."""
        entry = self.index.lookup(key)
        removed = self.index.delete_meta(key)
        if entry is not None:
            self.remove(entry)
            removed = True
        folder = self.objects / key[:2]
        if folder.is_dir():
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
                if current is None or current.md5 != entry.md5:
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
        indexed = {(e.key, e.ext) for e in self.index.entries()}
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
                if not is_temp:
                    key, dot, ext = name.partition(".")
                    if (key, dot + ext) in indexed:
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
