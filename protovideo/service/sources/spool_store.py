"""The spool's job store side: submit (idempotent), get, list_jobs, cancel.

A mixin of SpoolSource (spool.py), which holds the folders (`self.dirs`), the
index (`self.index`) and the queue side (claim, heartbeat, outcomes). Folder
listings go through `self._files(folder)`.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import time
import uuid
from pathlib import Path
from typing import Any

from jobmodel.spec import ID_RE
from jobmodel.states import JobState
from jobmodel.title import job_title
from protovideo.service.sources.base import PRIORITIES, cancel_record, now_iso, priority_of, write_json_atomic
from protovideo.service.sources.spool_index import CANONICAL, META, clean_id, submitted_us_of_stem
from protovideo.service.sources.store import (JobInfo, JobNotCancellable, JobNotFound, Page, SubmitResult,
                                              check_list_args, decode_cursor, encode_cursor,
                                              progress_view, us_to_iso)

log = logging.getLogger("protovideo.spool")

FINAL_FOLDERS = {JobState.FINISHED: "done", JobState.FAILED: "failed", JobState.CANCELLED: "cancelled"}
KEY_TTL = 24 * 3600   # an Idempotency-Key is remembered this long


def _id_from_stem(stem: str) -> str:
    return clean_id(stem, "") or uuid.uuid4().hex[:16]


class SpoolStore:
    def _cancel_orphan(self, entry: os.DirEntry) -> None:
        """A job whose cancel was requested and whose worker died: cancel it for good."""
        base = entry.path[:-5]
        hidden = Path(entry.path).with_name(f".{entry.name}.cancel-{uuid.uuid4().hex[:6]}")
        try:
            os.rename(entry.path, hidden)
        except FileNotFoundError:
            return
        self._finish_queued_cancel(hidden, entry.name[:-5].rsplit("~", 1)[0], was="started")
        for suffix in (".state", ".cancel"):
            Path(base + suffix).unlink(missing_ok=True)

    # ------------------------------------------------------------ the job store
    @contextlib.contextmanager
    def _locked(self):
        with open(self.root / ".lock", "a+b") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _key_path(self, key: str) -> Path:
        return self.dirs_keys / f"{hashlib.sha256(key.encode('utf-8')).hexdigest()}.json"

    @property
    def dirs_keys(self) -> Path:
        return self.root / "keys"

    def submit(self, data: dict, priority: str | None = None, base_dir: Path | None = None,
               idempotency_key: str | None = None) -> SubmitResult:
        """Queue a job once. With a key, its record (naming the job id) is written before
        the job, so a crash at any point leaves no job or exactly one: a retry with the key
        finds the job, or queues it under the recorded id when the crash came between the
        two writes. Both writes are atomic renames, under the spool's lock."""
        data = dict(data)
        if priority:
            data["priority"] = priority
        with self._locked():
            job_id = data.get("id")
            if idempotency_key:
                known = self._read_json(self._key_path(idempotency_key))
                if isinstance(known, dict) and time.time() - float(known.get("at", 0)) < KEY_TTL \
                        and isinstance(known.get("id"), str) and known["id"]:
                    info = self.get(known["id"])
                    if info is not None:
                        return SubmitResult(info.id, False, info.state)
                    if not job_id:
                        job_id = known["id"]      # recorded, never queued: queue it now
            job_id = job_id or uuid.uuid4().hex[:16]
            data["id"] = job_id
            active = self._find_active(job_id)
            if idempotency_key:
                self.dirs_keys.mkdir(exist_ok=True)
                write_json_atomic(self._key_path(idempotency_key), {"id": job_id, "at": time.time()})
            if active is None:
                rank = PRIORITIES.index(priority_of(data))
                meta = {"attempts": 0, "queued_at": time.time()}
                if base_dir is not None:
                    meta["base_dir"] = str(Path(base_dir).resolve())
                name = f"{rank}-{time.time_ns():020d}-{job_id}.json"
                self.briefs.write(name[:-5], {**data, META: meta}, job_id)   # lists read this, not the job
                write_json_atomic(self.dirs["incoming"] / name, {**data, META: meta})
            if idempotency_key:
                self._prune_keys()
        if active is not None:
            return SubmitResult(job_id, False, active.state)
        return SubmitResult(job_id, True, JobState.QUEUED)

    def _prune_keys(self) -> None:
        if time.time() - self._last_key_prune < 3600:
            return
        self._last_key_prune = time.time()
        for entry in self._files(self.dirs_keys):
            with contextlib.suppress(OSError):
                if entry.stat().st_mtime < time.time() - KEY_TTL:
                    os.unlink(entry.path)

    def cancel(self, job_id: str) -> JobInfo:
        with self._locked():
            for _ in range(5):   # the job may move on between two looks
                for entry in self._files(self.dirs["incoming"]):
                    if self._entry_id(entry) != job_id:
                        continue
                    hidden = Path(entry.path).with_name(f".{entry.name}.cancel-{uuid.uuid4().hex[:6]}")
                    try:
                        os.rename(entry.path, hidden)   # atomic: wins against a claim, or loses
                    except FileNotFoundError:
                        break
                    self._finish_queued_cancel(hidden, entry.name[:-5], was="queued")
                    log.info("job %s cancelled while queued", job_id)
                    return self.get(job_id, with_job=False) or JobInfo(job_id, JobState.CANCELLED)
                else:
                    for entry in self._files(self.dirs["processing"]):
                        if self._entry_id(entry) == job_id:
                            marker = Path(entry.path[:-5] + ".cancel")
                            write_json_atomic(marker, {"requested_at": now_iso()})
                            if not os.path.exists(entry.path):   # it ended meanwhile
                                marker.unlink(missing_ok=True)
                                break
                            log.info("job %s: cancel requested while running", job_id)
                            info = self.get(job_id, with_job=False)
                            if info is not None and info.state is JobState.STARTED:
                                return info
                            break
                    else:
                        info = self.get(job_id, with_job=False)
                        if info is None:
                            raise JobNotFound(job_id)
                        if info.state.is_final:
                            raise JobNotCancellable(job_id, info.state)
                time.sleep(0.01)
        info = self.get(job_id, with_job=False)
        if info is None:
            raise JobNotFound(job_id)
        if info.state.is_final:
            raise JobNotCancellable(job_id, info.state)
        return info

    def _finish_queued_cancel(self, hidden: Path, stem: str, was: str) -> None:
        raw = hidden.read_bytes()
        try:
            data = json.loads(raw)
        except ValueError:
            data = None
        meta = data.pop(META, {}) if isinstance(data, dict) else {}
        job_id = data.get("id") if isinstance(data, dict) else None
        job_id = job_id if isinstance(job_id, str) and ID_RE.match(job_id) else _id_from_stem(stem)
        extra = {"priority": priority_of(data)}
        if isinstance(meta, dict) and meta.get("base_dir"):
            extra["base_dir"] = meta["base_dir"]   # where a retry resolves relative paths
        us = submitted_us_of_stem(stem)
        if us is None and isinstance(meta, dict) and meta.get("queued_at"):
            us = int(float(meta["queued_at"]) * 1e6)
        if us is not None:
            extra["submitted_at"] = us_to_iso(us)
        attempts = int(meta.get("attempts", 0) or 0) if isinstance(meta, dict) else 0
        job = data if data is not None else raw.decode("utf-8", "replace")
        self._write_final(job_id, JobState.CANCELLED, cancel_record(job_id, was, attempts, job, **extra))
        hidden.unlink(missing_ok=True)
        self.briefs.drop(stem)

    def get(self, job_id: str, with_job: bool = True) -> JobInfo | None:
        # a worker may move the job between folders while they are read (claim, finish,
        # hand back): a file gone mid-read, or a job seen nowhere, means look again
        for _ in range(3):
            try:
                found = self._find(job_id, with_job=with_job)
            except FileNotFoundError:
                continue
            if found is not None:
                return found
        return None

    def status(self, job_id: str | None = None) -> dict:
        return self._depths() if job_id is None else super().status(job_id)

    def _find_active(self, job_id: str) -> JobInfo | None:
        found = self._find(job_id, final=False, with_job=False)
        return found if found is not None and not found.state.is_final else None

    def _find(self, job_id: str, final: bool = True, with_job: bool = True) -> JobInfo | None:
        known = self.index.lookup(job_id)   # no folder is read when none changed since the last look
        if known is not None and not known.state.is_final:
            reader = self._started_info if known.state is JobState.STARTED else self._queued_info
            try:
                return reader(job_id, known.path, with_job)
            except FileNotFoundError:
                pass   # it moved on a moment ago: search the folders
        elif known is not None:   # ended, and nothing newer of this id in the folders
            if not final:
                return None
            found = self._ended(job_id, known.state, known.path, with_job)
            if found is not None:
                return found
        for entry in self._files(self.dirs["processing"]):
            if self._entry_id(entry) == job_id:
                return self._started_info(job_id, entry.path, with_job)
        for entry in self._files(self.dirs["incoming"]):
            if self._entry_id(entry) == job_id:
                return self._queued_info(job_id, entry.path, with_job)
        if not final:
            return None
        for state, folder in FINAL_FOLDERS.items():
            found = self._ended(job_id, state, self.dirs[folder] / f"{job_id}.json", with_job)
            if found is not None:
                return found
        return None

    def _ended(self, job_id: str, state: JobState, path, with_job: bool) -> JobInfo | None:
        """An ended job from its record (None when there is none): `with_job` the whole record,
        else its brief when one matches the record as it is (made now when none does)."""
        folder = FINAL_FOLDERS[state]
        try:
            brief = None if with_job else self.briefs.read_final(folder, job_id, path)
            sig = self.briefs.signature(path)
        except FileNotFoundError:
            return None
        if brief is not None:
            info = self._final_info(job_id, state, brief["record"], with_job=False)
            info.title = brief.get("title") or info.title
            return info
        record = self._read_json(Path(path))
        if not isinstance(record, dict):
            return None
        info = self._final_info(job_id, state, record, with_job=with_job)
        if not with_job:   # without its copy of the job, as the brief (and Redis) give it
            info.record = {k: v for k, v in record.items() if k != "job"}
            with contextlib.suppress(OSError):
                self.briefs.write_final(folder, job_id, path, record, sig=sig)
        return info

    def _brief_record(self, folder: str, job_id: str, path: str) -> dict | None:
        """For the index: an ended job's record less its job, from its brief (None: none matches)."""
        try:
            brief = self.briefs.read_final(folder, job_id, path)
        except FileNotFoundError:
            return None
        return brief["record"] if brief is not None else None

    def _body(self, job_id: str, path: str, stem: str, with_job: bool) -> tuple[dict | None, dict, dict]:
        """(job data or None, its "_spool" bookkeeping, its brief): the whole body only
        `with_job`; else the brief alone (spool_brief.py). FileNotFoundError: it moved on."""
        if not with_job:
            brief = self.briefs.read(stem, path, job_id)
            return None, {"queued_at": brief.get("queued_at")}, brief
        data = self._read_json(Path(path))
        if data is None and not os.path.exists(path):
            raise FileNotFoundError(path)
        data = data if isinstance(data, dict) else {}
        meta = data.pop(META, None)
        meta = meta if isinstance(meta, dict) else {}
        return data, meta, {"title": job_title(data), "priority": priority_of(data),
                            "attempts": int(meta.get("attempts", 0) or 0)}

    def _started_info(self, job_id: str, path: str, with_job: bool = True) -> JobInfo:
        """A claimed job from its processing/ file's brief (and the .state beside it)."""
        base = path[:-5]
        stem = os.path.basename(base).rsplit("~", 1)[0]
        state = self._read_json(Path(base + ".state"))
        state = state if isinstance(state, dict) else {}
        data, meta, brief = self._body(job_id, path, stem, with_job)
        return JobInfo(job_id, JobState.STARTED, brief["priority"],
                       int(state.get("attempts") or meta.get("attempts") or brief["attempts"] + 1),
                       progress_view(state.get("progress")),
                       submitted_at=self._submitted(stem, meta),
                       started_at=state.get("claimed_at") or meta.get("claimed_at"),
                       worker=state.get("worker") or meta.get("worker"),
                       cancel_requested=os.path.exists(base + ".cancel"), job=data, title=brief["title"])

    def _queued_info(self, job_id: str, path: str, with_job: bool = True) -> JobInfo:
        """A queued job from its incoming/ file's brief (mtime in the future: waiting for a retry)."""
        stem = os.path.basename(path)[:-5]
        data, meta, brief = self._body(job_id, path, stem, with_job)
        waiting = os.stat(path).st_mtime > self.clock()
        return JobInfo(job_id, JobState.QUEUED, brief["priority"], brief["attempts"],
                       submitted_at=self._submitted(stem, meta),
                       retry_pending=waiting, job=data, title=brief["title"])

    @staticmethod
    def _submitted(stem: str, meta: dict) -> str | None:
        us = submitted_us_of_stem(stem)
        if us is None and meta.get("queued_at"):
            us = int(float(meta["queued_at"]) * 1e6)
        return us_to_iso(us) if us is not None else None

    @staticmethod
    def _final_info(job_id: str, state: JobState, record: dict, with_job: bool = True) -> JobInfo:
        job = record.get("job") if with_job else None
        priority = priority_of(record, default="") or priority_of(job if isinstance(job, dict) else None)
        progress = progress_view({"done": 1, "total": 1, "what": "done"}) \
            if state is JobState.FINISHED else progress_view(None)
        return JobInfo(job_id, state, priority, int(record.get("attempts") or 0), progress,
                       submitted_at=record.get("submitted_at"), started_at=record.get("started_at"),
                       finished_at=record.get("finished_at"), worker=record.get("worker"),
                       record=record, job=job if isinstance(job, dict) else None,
                       title=record.get("title") or job_title(record.get("job")))

    def list_jobs(self, state=None, priority=None, limit: int = 50,
                  cursor: str | None = None) -> tuple[list[JobInfo], str | None]:
        state, priority, limit = check_list_args(state, priority, limit)
        after = decode_cursor(cursor) if cursor else None
        page = Page(state, priority, limit)
        for entry in self.index.entries():
            if after is not None and (entry.sort_us, entry.id) >= after:
                continue
            if not page.offer(entry, entry.state, entry.priority):
                break
        jobs = [self._list_info(entry) for entry in page.items]
        last = page.items[-1] if page.more else None
        return jobs, encode_cursor(last.sort_us, last.id) if last else None

    def _list_info(self, entry) -> JobInfo:
        if entry.state.is_final:
            return self._final_listed(entry)
        else:   # read the very file the listing saw; no search through the folders
            reader = self._started_info if entry.state is JobState.STARTED else self._queued_info
            try:
                return reader(entry.id, entry.path, with_job=False)
            except FileNotFoundError:
                pass
        info = self.get(entry.id, with_job=False)   # it moved on since the listing
        if info is None:
            return JobInfo(entry.id, entry.state, entry.priority, submitted_at=us_to_iso(entry.sort_us))
        info.job = None
        return info

    def _final_listed(self, entry) -> JobInfo:
        """An ended job for a listing, from its brief (the record read once when it has none)."""
        info = self._ended(entry.id, entry.state, entry.path, with_job=False)
        if info is not None:
            return info
        info = self.get(entry.id, with_job=False)   # it moved on since the listing
        if info is None:
            return JobInfo(entry.id, entry.state, entry.priority, submitted_at=us_to_iso(entry.sort_us))
        info.job = None
        return info

    def _entry_id(self, entry: os.DirEntry) -> str:
        stem = entry.name[:-5].rsplit("~", 1)[0]
        if CANONICAL.match(stem):
            return _id_from_stem(stem)
        data = self._read_json(Path(entry.path))
        job_id = data.get("id") if isinstance(data, dict) else None
        return job_id if isinstance(job_id, str) else _id_from_stem(stem)

    @staticmethod
    def _read_json(path: Path) -> Any:
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

