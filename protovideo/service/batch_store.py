"""Where batches are kept: beside the spool's folders, or in Redis (JOB_SOURCE=redis).

A batch record is {"id", "created_at", "jobs": [ids], "rows", "callback_url", "priority"}.
Each job that ends is noted with a small summary ({"id", "state", ...}); the end that makes
the count reach the batch's size claims the batch's webhook, once, however many workers end
its jobs at the same time (an exclusive file create / SET NX).

    FileBatchStore (SPOOL_DIR/batches)
        <id>.json                 the batch record
        <id>.ended/<job>.json     each job that has ended (its summary)
        <id>.sent                 the batch.ended webhook was claimed
        members/<job>             the batch id of each job (looked up when a job ends)
    RedisBatchStore
        {prefix}:batch:{id}          the batch record (JSON)
        {prefix}:batch:{id}:ended    hash job id -> summary JSON
        {prefix}:batch:{id}:sent     set once, when the webhook is claimed
        {prefix}:batch-of:{job}      the batch id of each job
    A batch's Redis keys expire RECORD_TTL (30 days, as ended jobs) after its last job ended.
"""
from __future__ import annotations

import json
import os
import threading
from pathlib import Path

from jobmodel.files import write_atomic, write_json_atomic
from jobmodel.spec import ID_RE
from protovideo.service.sources.redis_store import RECORD_TTL


class FileBatchStore:
    def __init__(self, folder: Path):
        self.root = Path(folder)

    def _ok(self, name: str) -> bool:
        return bool(name) and bool(ID_RE.match(name))

    def create(self, batch: dict) -> None:
        (self.root / "members").mkdir(parents=True, exist_ok=True)
        (self.root / f"{batch['id']}.ended").mkdir(exist_ok=True)
        for job_id in batch["jobs"]:   # whole files, not each flushed: the record below is
            write_atomic(self.root / "members" / job_id, batch["id"], fsync=False)
        write_json_atomic(self.root / f"{batch['id']}.json", batch)

    def get(self, batch_id: str) -> dict | None:
        if not self._ok(batch_id):
            return None
        try:
            return json.loads((self.root / f"{batch_id}.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def batch_of(self, job_id: str) -> str | None:
        if not self._ok(job_id):
            return None
        try:
            return (self.root / "members" / job_id).read_text(encoding="utf-8").strip() or None
        except OSError:
            return None

    def ended(self, batch_id: str) -> dict[str, dict]:
        folder = self.root / f"{batch_id}.ended"
        out = {}
        for entry in os.scandir(folder) if folder.is_dir() else ():
            if entry.name.endswith(".json"):
                try:
                    out[entry.name[:-5]] = json.loads(Path(entry.path).read_text(encoding="utf-8"))
                except (OSError, ValueError):
                    continue
        return out

    def note_end(self, batch_id: str, summary: dict) -> int:
        """Note one job's end; the number of the batch's jobs that have ended."""
        folder = self.root / f"{batch_id}.ended"
        folder.mkdir(parents=True, exist_ok=True)
        write_json_atomic(folder / f"{summary['id']}.json", summary)
        return sum(1 for e in os.scandir(folder) if e.name.endswith(".json"))

    def ended_for_good(self, batch_id: str, jobs: list[str]) -> None:
        """Every job has ended (the spool keeps its batches, as it keeps its records)."""

    def claim_webhook(self, batch_id: str) -> bool:
        try:
            fd = os.open(self.root / f"{batch_id}.sent", os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        os.close(fd)
        return True

    def close(self) -> None:
        pass


class RedisBatchStore:
    def __init__(self, client, prefix: str, own: bool = False):
        self.r, self.prefix, self.own = client, prefix, own

    def _key(self, batch_id: str, part: str = "") -> str:
        return f"{self.prefix}:batch:{batch_id}" + (f":{part}" if part else "")

    def _member(self, job_id: str) -> str:
        return f"{self.prefix}:batch-of:{job_id}"

    def create(self, batch: dict) -> None:
        pipe = self.r.pipeline(transaction=True)
        pipe.mset({self._member(job_id): batch["id"] for job_id in batch["jobs"]})
        pipe.set(self._key(batch["id"]), json.dumps(batch))
        pipe.execute()

    def get(self, batch_id: str) -> dict | None:
        if not ID_RE.match(batch_id or ""):
            return None
        raw = self.r.get(self._key(batch_id))
        return json.loads(raw) if raw else None

    def batch_of(self, job_id: str) -> str | None:
        return self.r.get(self._member(job_id)) or None

    def ended(self, batch_id: str) -> dict[str, dict]:
        return {k: json.loads(v) for k, v in (self.r.hgetall(self._key(batch_id, "ended")) or {}).items()}

    def note_end(self, batch_id: str, summary: dict) -> int:
        pipe = self.r.pipeline(transaction=True)
        pipe.hset(self._key(batch_id, "ended"), summary["id"], json.dumps(summary))
        pipe.hlen(self._key(batch_id, "ended"))
        return int(pipe.execute()[1])

    def claim_webhook(self, batch_id: str) -> bool:
        return bool(self.r.set(self._key(batch_id, "sent"), "1", nx=True))

    def ended_for_good(self, batch_id: str, jobs: list[str]) -> None:
        """Every job has ended: the batch's keys expire with the jobs' records."""
        pipe = self.r.pipeline(transaction=False)
        for key in (self._key(batch_id), self._key(batch_id, "ended"), self._key(batch_id, "sent"),
                    *(self._member(j) for j in jobs)):
            pipe.expire(key, RECORD_TTL)
        pipe.execute()

    def close(self) -> None:
        if self.own:
            self.r.close()


_clients: dict[tuple[str, str], object] = {}
_clients_lock = threading.Lock()


def open_batch_store(settings, source=None):
    """The batch store of the configured job source (spool or redis); ValueError for the http
    source, which keeps no jobs. `source`: an open source whose Redis client to share."""
    kind = settings.JOB_SOURCE
    if kind == "spool":
        return FileBatchStore(settings.path("SPOOL_DIR") / "batches")
    if kind == "redis":
        prefix = settings.REDIS_KEY_PREFIX or "protovideo"
        client = getattr(source, "r", None)
        if client is None:
            import redis
            with _clients_lock:   # one client per process (a worker notes every job's end)
                client = _clients.get((settings.REDIS_URL, prefix))
                if client is None:
                    client = redis.Redis.from_url(settings.REDIS_URL, decode_responses=True,
                                                  socket_connect_timeout=10, socket_timeout=30)
                    _clients[(settings.REDIS_URL, prefix)] = client
        return RedisBatchStore(client, prefix)
    raise ValueError(f"batches need a job source that keeps jobs (spool or redis), not JOB_SOURCE={kind}")
