"""The spool's job index: which jobs exist, in which state, newest submission first.

The folders are the truth; this is a per-process cache of what each file says,
keyed by (folder, file name, inode), so a listing reads only the folders'
names (no stat, no parse) plus the few files it has not seen before. A file
rewritten in place gets a new inode (every spool write is a rename), so the
cache never serves a stale entry. 2,000 jobs on record list in a few ms.
"""
from __future__ import annotations

import json
import os
import re
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from jobmodel.spec import ID_RE, PRIORITIES, priority_name
from jobmodel.states import JobState

CANONICAL = re.compile(r"^([0-3])-(\d+)-([A-Za-z0-9_-]{1,64})$")
META = "_spool"
SETTLED_NS = 50_000_000   # a folder unchanged this long (50 ms) has no change hidden in its mtime tick
COARSE_SETTLED_NS = 2_000_000_000   # the same where mtimes are whole seconds (older file systems)

# scan order follows a job's way through the folders: a job moving on between two
# scans is seen twice (the later stage wins), never missed
SCAN = (("incoming", JobState.QUEUED, 1), ("processing", JobState.STARTED, 2),
        ("done", JobState.FINISHED, 3), ("failed", JobState.FAILED, 3),
        ("cancelled", JobState.CANCELLED, 3))


@dataclass(frozen=True)
class Entry:
    """One job file as the index knows it. `sort_us`: submission time in µs since 1970."""

    id: str
    state: JobState
    priority: str
    sort_us: int
    stage: int
    path: str


def iso_to_us(text) -> int | None:
    try:
        stamp = datetime.fromisoformat(str(text))
    except ValueError:
        return None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=timezone.utc)
    return int(stamp.timestamp() * 1_000_000)


def submitted_us_of_stem(stem: str) -> int | None:
    match = CANONICAL.match(stem)
    return int(match.group(2)) // 1000 if match else None


def read_json(path) -> object:
    try:
        with open(path, "rb") as handle:
            return json.loads(handle.read(4_000_000))
    except (OSError, ValueError):
        return None


def job_files(folder: Path) -> list[os.DirEntry]:
    try:
        return [e for e in os.scandir(folder)
                if e.name.endswith(".json") and not e.name.startswith(".") and e.is_file()]
    except FileNotFoundError:
        return []


def clean_id(stem: str, fallback: str) -> str:
    match = CANONICAL.match(stem)
    if match:
        return match.group(3)
    cleaned = re.sub(r"[^A-Za-z0-9_-]+", "_", stem).strip("_")[:64]
    return cleaned or fallback


class SpoolIndex:
    def __init__(self, dirs: dict[str, Path], list_files=job_files, final_record=None):
        """`final_record(folder, id, path)`: an ended job's record less its job (its brief), or
        None, when the record itself must be read."""
        self.dirs = dirs
        self.list_files = list_files
        self.final_record = final_record
        self._cache: dict[tuple[str, str, int], Entry] = {}
        self._lock = threading.Lock()
        self._stamps: tuple | None = None      # the folders' mtimes when the last scan began
        self._sorted: list[Entry] = []
        self._by_id: dict[str, Entry] = {}

    def _folder_stamps(self) -> tuple | None:
        """The folders' mtimes (ns), or None when one of them changed too recently to trust.

        A folder's mtime changes with every file created, renamed or removed in it, but
        only at the kernel clock's granularity (a few ms, or whole seconds on older file
        systems): a change in the same tick as the last scan could leave it equal. So a
        scan is reused only when every folder was last changed more than one tick (with a
        margin) before that scan began.
        """
        now = time.time_ns()
        stamps = []
        for folder, _state, _stage in SCAN:
            try:
                mtime = os.stat(self.dirs[folder]).st_mtime_ns
            except FileNotFoundError:
                mtime = 0
            coarse = mtime % 1_000_000_000 == 0   # a file system keeping whole seconds only
            if now - mtime < (COARSE_SETTLED_NS if coarse else SETTLED_NS):
                return None
            stamps.append(mtime)
        return tuple(stamps)

    def entries(self) -> list[Entry]:
        """Every job on record once (its newest submission, its latest stage), newest first.

        The folders are read again only when one of them changed since the last scan."""
        stamps = self._folder_stamps()
        with self._lock:
            if stamps is not None and stamps == self._stamps:
                return self._sorted
        ordered, by_id = self._scan()
        with self._lock:
            self._stamps, self._sorted, self._by_id = stamps, ordered, by_id
        return ordered

    def lookup(self, job_id: str) -> Entry | None:
        """The job's entry as of a scan no older than the folders' last change, or None."""
        self.entries()
        with self._lock:
            return self._by_id.get(job_id)

    def _scan(self) -> tuple[list[Entry], dict[str, Entry]]:
        seen: dict[tuple[str, str, int], Entry] = {}
        best: dict[str, Entry] = {}
        for folder, state, stage in SCAN:
            for dirent in self.list_files(self.dirs[folder]):
                key = (folder, dirent.name, dirent.inode())
                entry = self._cache.get(key)
                if entry is None:
                    entry = self._read(folder, state, stage, dirent)
                    if entry is None:
                        continue
                seen[key] = entry
                old = best.get(entry.id)
                if old is None or (entry.sort_us, entry.stage) > (old.sort_us, old.stage):
                    best[entry.id] = entry
        self._cache = seen
        return sorted(best.values(), key=lambda e: (e.sort_us, e.id), reverse=True), best

    def _read(self, folder: str, state: JobState, stage: int, dirent: os.DirEntry) -> Entry | None:
        stem = dirent.name[:-5]
        if folder in ("incoming", "processing"):
            stem = stem.rsplit("~", 1)[0] if folder == "processing" else stem
            match = CANONICAL.match(stem)
            if match:
                return Entry(match.group(3), state, PRIORITIES[int(match.group(1))],
                             int(match.group(2)) // 1000, stage, dirent.path)
            data = read_json(dirent.path)     # a file another program dropped in
            job_id = data.get("id") if isinstance(data, dict) else None
            if not (isinstance(job_id, str) and ID_RE.match(job_id)):
                job_id = clean_id(stem, stem)
            meta = data.get(META) if isinstance(data, dict) else None
            queued_at = meta.get("queued_at") if isinstance(meta, dict) else None
            try:
                sort_us = int(float(queued_at) * 1e6) if queued_at else \
                    int(dirent.stat().st_mtime * 1e6)
            except (OSError, ValueError, TypeError):
                return None
            priority = priority_name(data.get("priority")) if isinstance(data, dict) else None
            return Entry(job_id, state, priority or "normal", sort_us, stage, dirent.path)
        record = self.final_record(folder, stem, dirent.path) if self.final_record else None
        if record is None:
            record = read_json(dirent.path)
        if not isinstance(record, dict):
            return None
        sort_us = iso_to_us(record.get("submitted_at")) if record.get("submitted_at") else None
        if sort_us is None:
            try:
                sort_us = int(dirent.stat().st_mtime * 1e6)
            except OSError:
                return None
        priority = priority_name(record.get("priority"))
        if priority is None:
            job = record.get("job")
            priority = priority_name(job.get("priority")) if isinstance(job, dict) else None
        return Entry(str(record.get("id") or stem), state, priority or "normal", sort_us, stage,
                     dirent.path)
