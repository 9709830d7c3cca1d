"""Spool folder job source (JOB_SOURCE=spool, the default).

    incoming/    queued jobs, one JSON file each; `submit` names them
                 <rank>-<time_ns>-<id>.json (rank 0 = critical .. 3 = low)
    processing/  claimed jobs: <stem>~<claim token>.json; the file's mtime is the
                 lease, renewed by heartbeats; <stem>~<token>.state holds progress
    done/<id>.json, failed/<id>.json, cancelled/<id>.json   final records
    processing/<stem>~<token>.cancel   a cancel request for a running job: its
                 worker sees it on its next heartbeat and stops
    keys/<sha256 of an Idempotency-Key>.json   {"id", "at"}, kept 24 h
    workers/<name>.json   each worker's presence beat (presence.py)
    .lock        taken (flock) by submit and cancel, so that two submissions of one
                 id or one key cannot both queue it

A claim is an atomic rename from incoming/ to processing/, so of several
workers exactly one wins. A processing file whose mtime is older than
LEASE_SECONDS belongs to a dead worker: any worker renames it back to
incoming/ and the next claim counts one more attempt. A job waiting for a
retry sits in incoming/ with its mtime set in the future (its not-before time).
Worker bookkeeping (attempts, the submitter's folder) travels inside the job
file under the key "_spool", which is removed before the job is parsed.
Listing uses spool_index.SpoolIndex (folder names, cached per file).
"""
from __future__ import annotations

import json
import logging
import os
import time
import uuid
from pathlib import Path
from typing import Callable

from jobmodel.spec import ID_RE
from jobmodel.states import JobState
from protovideo.service.sources.base import (PRIORITIES, ClaimedJob, JobSource, LeaseLost,
                                             cancel_record, decode_raw_job, default_worker_name,
                                             now_iso, priority_of, write_json_atomic)
from protovideo.service.sources.spool_index import (CANONICAL, META, SpoolIndex, clean_id, job_files,
                                                    submitted_us_of_stem)
from protovideo.service.sources.presence import SpoolPresence
from protovideo.service.sources.spool_brief import SpoolBriefs
from protovideo.service.sources.spool_store import FINAL_FOLDERS, SpoolStore
from protovideo.service.sources.store import us_to_iso

log = logging.getLogger("protovideo.spool")

FOLDERS = ("incoming", "processing", "done", "failed", "cancelled")


def _job_json_files(folder: Path) -> list[os.DirEntry]:
    return job_files(folder)


def _id_from_stem(stem: str) -> str:
    return clean_id(stem, uuid.uuid4().hex[:16])


class SpoolSource(SpoolStore, SpoolPresence, JobSource):
    name = "spool"

    def __init__(self, settings, worker_name: str | None = None, create: bool = True,
                 clock: Callable[[], float] = time.time):
        """`clock`: wall-clock seconds for leases and retry times (file mtimes are set from it);
        tests pass one they move on themselves instead of sleeping past a lease."""
        self.settings = settings
        self.clock = clock
        self.root = settings.path("SPOOL_DIR")
        self.dirs = {name: self.root / name for name in FOLDERS}
        if create:
            for folder in self.dirs.values():
                folder.mkdir(parents=True, exist_ok=True)
        elif not self.root.is_dir():
            raise FileNotFoundError(f"the spool folder {self.root} (SPOOL_DIR) does not exist")
        self.briefs = SpoolBriefs(self.root, clock=clock)   # what lists and status read (spool_brief.py)
        self.index = SpoolIndex(self.dirs, list_files=lambda folder: _job_json_files(folder),
                                final_record=self._brief_record)
        self._last_key_prune = 0.0
        self.worker_name = worker_name or default_worker_name()
        self.lease = settings.LEASE_SECONDS
        self.max_attempts = settings.MAX_ATTEMPTS
        self._priority_cache: dict[tuple[str, int], str] = {}

    # ------------------------------------------------------------ paths
    def _processing(self, claimed: ClaimedJob, suffix: str = ".json") -> Path:
        stem, token = claimed.handle["stem"], claimed.handle["token"]
        return self.dirs["processing"] / f"{stem}~{token}{suffix}"

    def _rank(self, entry: os.DirEntry) -> int:
        stem = entry.name[:-5]
        match = CANONICAL.match(stem)
        if match:
            return int(match.group(1))
        key = (entry.name, entry.stat().st_mtime_ns)
        if key not in self._priority_cache:   # a file another program dropped in
            try:
                data = json.loads(Path(entry.path).read_bytes()[:1_000_000])
            except (OSError, ValueError):
                data = None
            self._priority_cache[key] = priority_of(data)
        return PRIORITIES.index(self._priority_cache[key])

    # ------------------------------------------------------------ claim
    def reclaim_expired(self) -> int:
        """Move jobs whose lease ran out back to incoming/; return how many."""
        count = 0
        deadline = self.clock() - self.lease
        for entry in _job_json_files(self.dirs["processing"]):
            try:
                if entry.stat().st_mtime >= deadline:
                    continue
            except FileNotFoundError:
                continue
            stem = entry.name[:-5].rsplit("~", 1)[0]
            if os.path.exists(entry.path[:-5] + ".cancel"):
                self._cancel_orphan(entry)   # cancelled while its worker was dying
                continue
            state = Path(entry.path[:-5] + ".state")
            known = self._read_json(state)
            attempts = known.get("attempts") if isinstance(known, dict) else None
            try:
                os.rename(entry.path, self.dirs["incoming"] / f"{stem}.json")
            except FileNotFoundError:
                continue    # another worker reclaimed it first
            if isinstance(attempts, int):   # the dead worker's attempt counts
                self.briefs.set_attempts(stem, attempts)
            state.unlink(missing_ok=True)
            log.warning("lease of %s ran out (worker gone); queued again", stem)
            count += 1
        self._sweep_stale_temporaries(deadline)
        self.briefs.sweep(self._live_stems, self.lease)
        return count

    def _live_stems(self) -> set[str]:
        return {e.name[:-5].rsplit("~", 1)[0] for folder in ("incoming", "processing")
                for e in _job_json_files(self.dirs[folder])}

    def _sweep_stale_temporaries(self, deadline: float) -> None:
        """Remove processing/'s hidden half-written files (`.<name>.tmp-*`, from write_json_atomic)
        older than a lease: a worker killed mid-write leaves one, and no one else would remove it."""
        with os.scandir(self.dirs["processing"]) as entries:
            for entry in entries:
                if entry.name.startswith(".") and ".tmp-" in entry.name:
                    try:
                        if entry.stat().st_mtime < deadline:
                            os.unlink(entry.path)
                    except FileNotFoundError:
                        pass

    def _candidates(self) -> list[os.DirEntry]:
        now = self.clock()
        ready = []
        for entry in _job_json_files(self.dirs["incoming"]):
            try:
                mtime = entry.stat().st_mtime
                if mtime > now:
                    continue    # waiting for a retry
                ready.append(((self._rank(entry), mtime, entry.name), entry))
            except FileNotFoundError:
                continue
        ready.sort(key=lambda pair: pair[0])
        return [entry for _key, entry in ready]

    def claim(self) -> ClaimedJob | None:
        self.reclaim_expired()
        for entry in self._candidates():
            stem = entry.name[:-5]
            token = uuid.uuid4().hex[:12]
            target = self.dirs["processing"] / f"{stem}~{token}.json"
            try:
                self._touch(entry.path)         # a fresh lease before anyone can see it
                os.rename(entry.path, target)   # atomic: exactly one worker wins
            except FileNotFoundError:
                continue
            claimed = self._open_claim(stem, token, target)
            if claimed is not None:
                return claimed
        return None

    def _open_claim(self, stem: str, token: str, path: Path) -> ClaimedJob | None:
        raw = path.read_bytes()
        data, decode_error = decode_raw_job(raw)
        meta = data.pop(META, {}) if isinstance(data, dict) else {}
        meta = meta if isinstance(meta, dict) else {}
        job_id = data.get("id") if isinstance(data, dict) else None
        if not (isinstance(job_id, str) and ID_RE.match(job_id)):
            job_id = _id_from_stem(stem)
            if isinstance(data, dict) and "id" not in data:
                data["id"] = job_id
        attempts = int(meta.get("attempts", 0) or 0) + 1
        handle = {"stem": stem, "token": token, "meta": meta}
        base_dir = meta.get("base_dir")
        claimed = ClaimedJob(id=job_id, data=data, attempts=attempts, priority=priority_of(data),
                             base_dir=Path(base_dir) if base_dir else self.settings.path("ASSET_ROOT"),
                             decode_error=decode_error, handle=handle, claimed_at=now_iso(),
                             raw=raw.decode("utf-8", "replace") if data is None else None)
        if self.dead_letter_if_worn_out(claimed):
            return None
        if data is not None:
            meta.update(attempts=attempts, worker=self.worker_name, claimed_at=claimed.claimed_at)
            write_json_atomic(path, {**data, META: meta}, mtime=self.clock())   # the lease from now
        self._write_state(claimed)
        return claimed

    def _touch(self, path) -> None:
        """The file's mtime (its lease) set to now by this source's clock."""
        now = self.clock()
        os.utime(path, (now, now))

    # ------------------------------------------------------------ while running
    def _write_state(self, claimed: ClaimedJob) -> None:
        state = {"id": claimed.id, "worker": self.worker_name, "attempts": claimed.attempts,
                 "claimed_at": claimed.claimed_at, "heartbeat_at": now_iso(),
                 "progress": dict(claimed.progress)}
        write_json_atomic(self._processing(claimed, ".state"), state)

    def heartbeat(self, claimed: ClaimedJob) -> None:
        try:
            self._touch(self._processing(claimed))
        except FileNotFoundError:
            raise LeaseLost(f"job {claimed.id}: the lease ran out and the job was queued again") \
                from None
        if self._processing(claimed, ".cancel").exists():
            claimed.request_cancel("cancelled")
        self._write_state(claimed)

    # ------------------------------------------------------------ outcomes
    def _forget(self, claimed: ClaimedJob) -> None:
        self._processing(claimed).unlink(missing_ok=True)
        for suffix in (".state", ".cancel"):
            self._processing(claimed, suffix).unlink(missing_ok=True)
        self.briefs.drop(claimed.handle["stem"])

    def _stamp(self, claimed: ClaimedJob, record: dict) -> dict:
        """The record with the job's priority and submission time (for lists and the API)."""
        meta = claimed.handle.get("meta") or {}
        us = submitted_us_of_stem(claimed.handle["stem"])
        if us is None and meta.get("queued_at"):
            us = int(float(meta["queued_at"]) * 1e6)
        extra = {"priority": claimed.priority}
        if meta.get("base_dir"):
            extra["base_dir"] = meta["base_dir"]   # where a retry resolves relative paths
        if us is not None:
            extra["submitted_at"] = us_to_iso(us)
        return {**record, **{k: v for k, v in extra.items() if k not in record}}

    def _write_final(self, job_id: str, state: JobState, record: dict) -> None:
        """The one final record of a job: a record of an earlier run in another folder goes."""
        folder = self.dirs[FINAL_FOLDERS[state]]
        folder.mkdir(exist_ok=True)
        write_json_atomic(folder / f"{job_id}.json", record)
        self.briefs.write_final(FINAL_FOLDERS[state], job_id, folder / f"{job_id}.json", record)
        for other, name in FINAL_FOLDERS.items():
            if other is not state:
                (self.dirs[name] / f"{job_id}.json").unlink(missing_ok=True)
                self.briefs.drop_final(name, job_id)
        self._notify_final(state, record)

    def complete(self, claimed: ClaimedJob, record: dict) -> None:
        self._write_final(claimed.id, JobState.FINISHED, self._stamp(claimed, record))
        self._forget(claimed)

    def fail(self, claimed: ClaimedJob, error: dict, retry_in: float | None = None) -> None:
        if retry_in is None:
            record = self._stamp(claimed, self.failure_record(claimed, error))
            self._write_final(claimed.id, JobState.FAILED, record)
            self._forget(claimed)
            return
        meta = dict(claimed.handle["meta"], attempts=claimed.attempts, last_error=error)
        self._requeue(claimed, meta, not_before=self.clock() + max(0.0, retry_in))

    def record_cancelled(self, claimed: ClaimedJob, record: dict) -> None:
        self._write_final(claimed.id, JobState.CANCELLED, self._stamp(claimed, record))
        self._forget(claimed)

    def release(self, claimed: ClaimedJob) -> None:
        meta = dict(claimed.handle["meta"], attempts=claimed.attempts - 1)
        queued_at = meta.get("queued_at")
        self._requeue(claimed, meta, not_before=float(queued_at) if queued_at else None)

    def _requeue(self, claimed: ClaimedJob, meta: dict, not_before: float | None) -> None:
        path = self._processing(claimed)
        if not path.exists():
            raise LeaseLost(f"job {claimed.id}: the lease ran out and the job was queued again")
        if self._processing(claimed, ".cancel").exists():   # cancelled meanwhile: no retry
            job = claimed.job_data()
            self.record_cancelled(claimed, cancel_record(claimed.id, "started", claimed.attempts,
                                                         job, worker=self.worker_name))
            return
        self.briefs.write(claimed.handle["stem"], claimed.data, claimed.id,
                          attempts=int(meta.get("attempts") or 0))
        if claimed.data is not None:
            # rewrite in place; the future mtime keeps other workers from reclaiming it
            write_json_atomic(path, {**claimed.data, META: meta}, mtime=not_before)
        elif not_before is not None:
            os.utime(path, (not_before, not_before))
        os.rename(path, self.dirs["incoming"] / f"{claimed.handle['stem']}.json")
        self._processing(claimed, ".state").unlink(missing_ok=True)

    def _files(self, folder: Path) -> list[os.DirEntry]:
        return _job_json_files(folder)

    def is_drained(self) -> bool:
        return not _job_json_files(self.dirs["incoming"]) and \
            not _job_json_files(self.dirs["processing"])

    def _depths(self) -> dict:
        queued = {p: 0 for p in PRIORITIES}
        waiting = 0
        now = self.clock()
        for entry in _job_json_files(self.dirs["incoming"]):
            try:
                queued[PRIORITIES[self._rank(entry)]] += 1
                waiting += entry.stat().st_mtime > now
            except FileNotFoundError:
                continue
        return {"source": "spool", "spool_dir": str(self.root), "queued": queued,
                "queued_total": sum(queued.values()), "retry_pending": waiting,
                "started": len(_job_json_files(self.dirs["processing"])),
                "finished": len(_job_json_files(self.dirs["done"])),
                "failed": len(_job_json_files(self.dirs["failed"])),
                "cancelled": len(_job_json_files(self.dirs["cancelled"]))}
