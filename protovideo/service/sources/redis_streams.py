"""Redis Streams job source (JOB_SOURCE=redis): one queue shared by several machines.

Keys (prefix = REDIS_KEY_PREFIX, so that deployments and tests can share a server):

    {prefix}:stream:{priority}  one stream per priority, consumer group "workers";
                                entry fields: id, job (JSON), base_dir
    {prefix}:delayed            sorted set of jobs waiting for a retry (score = not-before time)
    {prefix}:dead               dead-letter stream: every failed job with its failure record
    {prefix}:job:{id}           hash: state (queued/started/finished/failed), attempts,
                                priority, worker, progress (JSON), record (JSON)
    {prefix}:stats              hash: finished, failed counters

A worker reads the streams highest priority first. An entry stays pending
until the worker acknowledges it (XACK) on completion or failure; heartbeats
reset its idle time (XCLAIM to itself). Entries pending longer than
LEASE_SECONDS belong to a dead consumer and are taken over with XAUTOCLAIM,
with the attempt count raised; past MAX_ATTEMPTS they go to the dead-letter stream.
"""
from __future__ import annotations

import json
import logging
import time
import uuid
from pathlib import Path

import redis

from jobmodel.states import JobState
from protovideo.service.sources.base import (PRIORITIES, ClaimedJob, JobSource, LeaseLost,
                                             decode_raw_job, default_worker_name, now_iso)

log = logging.getLogger("protovideo.redis_source")

GROUP = "workers"
RECORD_TTL = 30 * 24 * 3600   # finished and failed job hashes are kept 30 days

# Move due retries back into their streams atomically (no job can be lost in between).
PROMOTE = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, 100)
for _, member in ipairs(due) do
  redis.call('ZREM', KEYS[1], member)
  local e = cjson.decode(member)
  redis.call('XADD', ARGV[2] .. e.priority, '*', 'id', e.id, 'job', e.job, 'base_dir', e.base_dir)
end
return #due
"""


class RedisSource(JobSource):
    name = "redis"

    def __init__(self, settings, worker_name: str | None = None, client: redis.Redis | None = None):
        self.settings = settings
        self.prefix = settings.REDIS_KEY_PREFIX or "protovideo"
        self.worker_name = worker_name or default_worker_name()
        self.lease_ms = max(1, int(settings.LEASE_SECONDS * 1000))
        self.max_attempts = settings.MAX_ATTEMPTS
        self.r = client or redis.Redis.from_url(settings.REDIS_URL, decode_responses=True,
                                                socket_connect_timeout=10, socket_timeout=30,
                                                health_check_interval=30)
        self._promote = self.r.register_script(PROMOTE)
        self._groups_ready = False
        self._last_prune = 0.0

    # ------------------------------------------------------------ keys
    def _stream(self, priority: str) -> str:
        return f"{self.prefix}:stream:{priority}"

    def _job_key(self, job_id: str) -> str:
        return f"{self.prefix}:job:{job_id}"

    @property
    def _delayed(self) -> str:
        return f"{self.prefix}:delayed"

    @property
    def _dead(self) -> str:
        return f"{self.prefix}:dead"

    def _ensure_groups(self) -> None:
        if self._groups_ready:
            return
        for priority in PRIORITIES:
            try:
                self.r.xgroup_create(self._stream(priority), GROUP, id="0", mkstream=True)
            except redis.ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise
        self._groups_ready = True

    # ------------------------------------------------------------ claim
    def claim(self) -> ClaimedJob | None:
        self._ensure_groups()
        self._promote(keys=[self._delayed], args=[time.time(), f"{self.prefix}:stream:"])
        self._prune_consumers()
        for priority in PRIORITIES:
            stream = self._stream(priority)
            while True:
                entry = self._take_over(stream) or self._read_new(stream)
                if entry is None:
                    break
                claimed = self._open(priority, *entry)
                if claimed is not None:
                    return claimed
        return None

    def _take_over(self, stream: str):
        reply = self.r.xautoclaim(stream, GROUP, self.worker_name, self.lease_ms,
                                  start_id="0-0", count=1)
        entries = [e for e in reply[1] if e and e[1]]
        if entries:
            log.warning("took over %s from a dead consumer (lease ran out)", entries[0][0])
        return entries[0] if entries else None

    def _read_new(self, stream: str):
        reply = self.r.xreadgroup(GROUP, self.worker_name, {stream: ">"}, count=1)
        for _name, entries in reply or []:
            for entry in entries:
                return entry
        return None

    def _open(self, priority: str, entry_id: str, fields: dict) -> ClaimedJob | None:
        job_id = fields.get("id") or entry_id
        raw = fields.get("job", "")
        data, decode_error = decode_raw_job(raw)
        key = self._job_key(job_id)
        attempts = int(self.r.hincrby(key, "attempts", 1))
        base_dir = fields.get("base_dir") or ""
        claimed = ClaimedJob(id=job_id, data=data, attempts=attempts, priority=priority,
                             base_dir=Path(base_dir) if base_dir else self.settings.path("ASSET_ROOT"),
                             decode_error=decode_error, claimed_at=now_iso(),
                             handle={"stream": self._stream(priority), "entry": entry_id,
                                     "fields": fields}, raw=raw if data is None else None)
        if self.dead_letter_if_worn_out(claimed):
            self.r.hincrby(key, "attempts", -1)
            return None
        self.r.hset(key, mapping={"state": JobState.STARTED, "worker": self.worker_name,
                                  "priority": priority, "claimed_at": claimed.claimed_at,
                                  "progress": "{}"})
        return claimed

    def _prune_consumers(self) -> None:
        """Forget consumers that hold nothing and have been idle a long while."""
        if time.monotonic() - self._last_prune < 300:
            return
        self._last_prune = time.monotonic()
        idle_limit = max(self.lease_ms * 10, 3_600_000)
        for priority in PRIORITIES:
            for consumer in self.r.xinfo_consumers(self._stream(priority), GROUP):
                if consumer["pending"] == 0 and consumer["idle"] > idle_limit:
                    self.r.xgroup_delconsumer(self._stream(priority), GROUP, consumer["name"])

    # ------------------------------------------------------------ while running
    def heartbeat(self, claimed: ClaimedJob) -> None:
        stream, entry = claimed.handle["stream"], claimed.handle["entry"]
        pending = self.r.xpending_range(stream, GROUP, min=entry, max=entry, count=1)
        if not pending or pending[0]["consumer"] != self.worker_name:
            raise LeaseLost(f"job {claimed.id}: the lease ran out and another worker took it")
        self.r.xclaim(stream, GROUP, self.worker_name, 0, [entry], justid=True)
        self.r.hset(self._job_key(claimed.id), mapping={
            "progress": json.dumps(claimed.progress), "heartbeat_at": now_iso()})

    # ------------------------------------------------------------ outcomes
    def _ack(self, pipe, claimed: ClaimedJob) -> None:
        pipe.xack(claimed.handle["stream"], GROUP, claimed.handle["entry"])
        pipe.xdel(claimed.handle["stream"], claimed.handle["entry"])

    def complete(self, claimed: ClaimedJob, record: dict) -> None:
        key = self._job_key(claimed.id)
        with self.r.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping={"state": JobState.FINISHED, "record": json.dumps(record)})
            pipe.expire(key, RECORD_TTL)
            pipe.hincrby(f"{self.prefix}:stats", "finished", 1)
            self._ack(pipe, claimed)
            pipe.execute()

    def fail(self, claimed: ClaimedJob, error: dict, retry_in: float | None = None) -> None:
        key = self._job_key(claimed.id)
        with self.r.pipeline(transaction=True) as pipe:
            if retry_in is None:
                record = self.failure_record(claimed, error)
                pipe.hset(key, mapping={"state": JobState.FAILED, "record": json.dumps(record)})
                pipe.expire(key, RECORD_TTL)
                pipe.hincrby(f"{self.prefix}:stats", "failed", 1)
                pipe.xadd(self._dead, {"id": claimed.id, "record": json.dumps(record)})
            else:
                pipe.zadd(self._delayed, {self._delayed_member(claimed): time.time() + retry_in})
                pipe.hset(key, mapping={"state": JobState.QUEUED, "last_error": json.dumps(error),
                                        "retry_at": time.time() + retry_in})
            self._ack(pipe, claimed)
            pipe.execute()

    def _delayed_member(self, claimed: ClaimedJob) -> str:
        fields = claimed.handle["fields"]
        return json.dumps({"id": claimed.id, "priority": claimed.priority,
                           "job": fields.get("job", ""), "base_dir": fields.get("base_dir", ""),
                           "nonce": uuid.uuid4().hex[:8]})

    def release(self, claimed: ClaimedJob) -> None:
        key = self._job_key(claimed.id)
        with self.r.pipeline(transaction=True) as pipe:
            pipe.hincrby(key, "attempts", -1)
            pipe.hset(key, "state", JobState.QUEUED)
            pipe.xadd(claimed.handle["stream"], claimed.handle["fields"])
            self._ack(pipe, claimed)
            pipe.execute()

    # ------------------------------------------------------------ submit / status
    def submit(self, data: dict, priority: str | None = None, base_dir: Path | None = None) -> str:
        self._ensure_groups()
        data = dict(data)
        if priority:
            data["priority"] = priority
        priority = data.get("priority") if data.get("priority") in PRIORITIES else "normal"
        job_id = data.get("id") or uuid.uuid4().hex[:16]
        data["id"] = job_id
        key = self._job_key(job_id)
        with self.r.pipeline(transaction=True) as pipe:
            pipe.delete(key)
            pipe.hset(key, mapping={"state": JobState.QUEUED, "attempts": 0, "priority": priority,
                                    "queued_at": now_iso()})
            pipe.xadd(self._stream(priority), {
                "id": job_id, "job": json.dumps(data),
                "base_dir": str(Path(base_dir).resolve()) if base_dir else ""})
            pipe.execute()
        return job_id

    def is_drained(self) -> bool:
        return all(self.r.xlen(self._stream(p)) == 0 for p in PRIORITIES) and \
            self.r.zcard(self._delayed) == 0

    def status(self, job_id: str | None = None) -> dict:
        if job_id is not None:
            return self._job_status(job_id)
        self._ensure_groups()
        queued, started = {}, 0
        for priority in PRIORITIES:
            stream = self._stream(priority)
            pending = int(self.r.xpending(stream, GROUP)["pending"])
            queued[priority] = self.r.xlen(stream) - pending
            started += pending
        stats = self.r.hgetall(f"{self.prefix}:stats")
        return {"source": "redis", "prefix": self.prefix, "queued": queued,
                "queued_total": sum(queued.values()), "retry_pending": self.r.zcard(self._delayed),
                "started": started, "finished": int(stats.get("finished", 0)),
                "failed": int(stats.get("failed", 0)), "dead_letter": self.r.xlen(self._dead)}

    def _job_status(self, job_id: str) -> dict:
        values = self.r.hgetall(self._job_key(job_id))
        if not values:
            return {"id": job_id, "state": "unknown"}
        info = {"id": job_id, "state": values.get("state", "unknown"),
                "priority": values.get("priority"), "attempts": int(values.get("attempts", 0))}
        if info["state"] == JobState.STARTED:
            info["worker"] = values.get("worker")
            info["progress"] = json.loads(values.get("progress") or "{}")
        if info["state"] == JobState.QUEUED and values.get("retry_at"):
            info["retry_pending"] = float(values["retry_at"]) > time.time()
        if values.get("record"):
            info["record"] = json.loads(values["record"])
        return info

    def close(self) -> None:
        self.r.close()
