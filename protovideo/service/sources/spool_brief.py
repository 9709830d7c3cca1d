"""The spool's job briefs: a few hundred bytes per queued or running job, so that lists and
status never read a job's whole body (which may be megabytes).

    SPOOL_DIR/briefs/<stem>.json   {"id", "title", "priority", "attempts", "queued_at"}
                                   for incoming/<stem>.json
                                   and processing/<stem>~<token>.json

The stem (<rank>-<time_ns>-<id>) names one submission, and its priority and submission time
are in it; the brief adds what the stem cannot hold: the title (jobmodel.title) and the
attempts made so far. A running job's worker, claim time and progress are in its .state
file, which is small too. `submit` writes the brief before the job file, and every step that
changes the attempts (a retry, a hand-back, a lease that ran out) rewrites it, so the brief of
a job the spool queued is always there.

An ended job's record holds a copy of the job, so it has a brief too:

    SPOOL_DIR/briefs/<folder>.<id>.json   {"sig", "record" (less its "job"), "title"}
                                          for done/, failed/ or cancelled/<id>.json

`sig` is the record file's (inode, size, mtime) when the brief was written: a brief that does
not match the record as it is now (the record was rewritten, a crash came between the two
writes) is not used, and the record itself is read.

A job file another program dropped in (no canonical stem), or one whose brief is missing
(a crash between the two writes of an older version), is read once per file (by inode). Every
brief is kept in memory while its job file stays the same file, so a list costs a stat per job. Briefs of jobs that have ended are removed with the job; strays
(a crash between the two) are swept after a lease.
"""
from __future__ import annotations

import contextlib
import os
import threading
import time
from pathlib import Path
from typing import Any

from jobmodel.files import write_json_atomic
from jobmodel.spec import priority_name
from jobmodel.title import job_title
from protovideo.service.sources.spool_index import CANONICAL, META, read_json

SWEEP_EVERY_S = 60.0
MEMORY_SIZE = 20_000   # briefs kept in memory (by job file path and inode)


def brief_of(data: Any, job_id: str) -> dict:
    """The brief of a job body (decoded JSON, its "_spool" bookkeeping included)."""
    meta = data.get(META) if isinstance(data, dict) else None
    meta = meta if isinstance(meta, dict) else {}
    attempts, queued_at = meta.get("attempts", 0), meta.get("queued_at")
    return {"id": job_id, "title": job_title(data),
            "priority": (priority_name(data.get("priority")) if isinstance(data, dict) else None) or "normal",
            "attempts": int(attempts) if isinstance(attempts, (int, float)) else 0,
            "queued_at": queued_at if isinstance(queued_at, (int, float)) else None}


class SpoolBriefs:
    def __init__(self, root: Path, clock=time.time):
        self.folder = root / "briefs"
        self.clock = clock
        self._memory: dict[tuple[str, int], dict] = {}
        self._lock = threading.Lock()
        self._last_sweep = 0.0

    def path(self, stem: str) -> Path:
        return self.folder / f"{stem}.json"

    def write(self, stem: str, data: Any, job_id: str, attempts: int | None = None) -> None:
        """The brief of a canonical stem's job (`attempts` overrides the body's count)."""
        if not CANONICAL.match(stem):
            return
        brief = brief_of(data, job_id)
        if attempts is not None:
            brief["attempts"] = attempts
        self.folder.mkdir(exist_ok=True)
        write_json_atomic(self.path(stem), brief, indent=None)

    def set_attempts(self, stem: str, attempts: int) -> None:
        """Rewrite the attempts of a brief on record (a lease ran out: the body was not read)."""
        brief = read_json(self.path(stem)) if CANONICAL.match(stem) else None
        if isinstance(brief, dict):
            write_json_atomic(self.path(stem), {**brief, "attempts": attempts}, indent=None)

    def read(self, stem: str, body_path: str, job_id: str) -> dict:
        """The brief of the job in `body_path`: from briefs/, else from the body; kept in memory
        while the body is the same file (path and inode: every step that changes a brief also
        renames or rewrites the body). FileNotFoundError when the body is gone (it moved on)."""
        inode = os.stat(body_path).st_ino          # FileNotFoundError: it moved on
        with self._lock:
            known = self._memory.get((body_path, inode))
        if known is not None:
            return known
        brief = read_json(self.path(stem)) if CANONICAL.match(stem) else None
        if not isinstance(brief, dict):
            data = read_json(body_path)
            if data is None and not os.path.exists(body_path):
                raise FileNotFoundError(body_path)
            brief = brief_of(data, job_id)
            if CANONICAL.match(stem):   # a brief lost to a crash: made again from the body
                with contextlib.suppress(OSError):
                    self.write(stem, data, job_id)
        with self._lock:
            if len(self._memory) > MEMORY_SIZE:
                self._memory.clear()
            self._memory[(body_path, inode)] = brief
        return brief

    def drop(self, stem: str) -> None:
        self.path(stem).unlink(missing_ok=True)

    # ------------------------------------------------------------ ended jobs
    def final_path(self, folder: str, job_id: str) -> Path:
        return self.folder / f"{folder}.{job_id}.json"

    @staticmethod
    def signature(path: Path | str) -> list[int]:
        st = os.stat(path)
        return [st.st_ino, st.st_size, st.st_mtime_ns]

    def write_final(self, folder: str, job_id: str, record_path: Path | str, record: dict,
                    sig: list[int] | None = None) -> None:
        """The brief of the record at `record_path` (`sig`: the file's signature when `record`
        was read from it; nothing is written when the file has changed since)."""
        now = self.signature(record_path)
        if sig is not None and sig != now:
            return
        self.folder.mkdir(exist_ok=True)
        write_json_atomic(self.final_path(folder, job_id), {
            "sig": now,
            "record": {k: v for k, v in record.items() if k != "job"},
            "title": record.get("title") or job_title(record.get("job"))}, indent=None)

    def read_final(self, folder: str, job_id: str, record_path: Path | str) -> dict | None:
        """{"record" (less its job), "title"} of the record at `record_path` when its brief matches
        the file as it is, else None (read the record). FileNotFoundError: no such record."""
        sig = self.signature(record_path)
        key = (str(record_path), *sig)
        with self._lock:
            known = self._memory.get(key)
        if known is not None:
            return known
        brief = read_json(self.final_path(folder, job_id))
        if not (isinstance(brief, dict) and brief.get("sig") == sig and isinstance(brief.get("record"), dict)):
            return None
        with self._lock:
            if len(self._memory) > MEMORY_SIZE:
                self._memory.clear()
            self._memory[key] = brief
        return brief

    def drop_final(self, folder: str, job_id: str) -> None:
        self.final_path(folder, job_id).unlink(missing_ok=True)

    def sweep(self, live_stems, older_than_s: float) -> int:
        """Remove briefs whose job (`live_stems()`: the stems in incoming/ and processing/) is gone
        and that are older
        than `older_than_s` (a crash between a job's end and its brief's removal); at most
        once a minute. Returns how many went."""
        now = self.clock()
        if now - self._last_sweep < SWEEP_EVERY_S:
            return 0
        self._last_sweep = now
        gone = 0
        try:
            entries = list(os.scandir(self.folder))
        except FileNotFoundError:
            return 0
        live_stems = live_stems()   # listed after the briefs: a job queued meanwhile is kept
        for entry in entries:
            stem = entry.name[:-5]
            if not entry.name.endswith(".json") or stem in live_stems:
                continue
            folder, dot, job_id = stem.partition(".")
            if dot and (self.folder.parent / folder / f"{job_id}.json").exists():
                continue   # an ended job's brief, its record still there
            with contextlib.suppress(FileNotFoundError):
                if entry.stat().st_mtime < now - older_than_s:
                    os.unlink(entry.path)
                    gone += 1
        return gone
