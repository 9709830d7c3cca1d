"""Redis Streams job source (JOB_SOURCE=redis): one queue shared by several machines.

Keys (prefix = REDIS_KEY_PREFIX, so that deployments and tests can share a server):

    {prefix}:stream:{priority}  one stream per priority, consumer group "workers";
                                entry fields: id, job (JSON), base_dir
    {prefix}:delayed            sorted set of jobs waiting for a retry (score = not-before time)
    {prefix}:dead               dead-letter stream: every failed job with its failure record
    {prefix}:job:{id}           hash: state (queued/started/finished/failed/cancelled),
                                attempts, priority, worker, progress (JSON), record (JSON)...
    {prefix}:jobs, {prefix}:state:{state}, {prefix}:idem:{sha}   the job store (redis_store.py)
    {prefix}:stats              hash: finished, failed, cancelled counters
    {prefix}:worker:{name}, {prefix}:workers   presence beats (presence.py)
    {prefix}:pieces:{priority}, {prefix}:split:{id}   piece tasks of split jobs (SPLIT_SCENES):
                                piece_tasks.py, taken beside the jobs (`claim(priorities)`)

A worker reads the streams highest priority first. An entry stays pending
until the worker acknowledges it (XACK) on completion or failure; heartbeats
reset its idle time (XCLAIM to itself). Entries pending longer than
LEASE_SECONDS belong to a dead consumer and are taken over with XAUTOCLAIM,
with the attempt count raised; past MAX_ATTEMPTS they go to the dead-letter stream.
A cancel request for a running job (hash field cancel_requested) is seen by its
worker's next heartbeat.
"""
from __future__ import annotations

import json
import logging
import time
import uuid
from pathlib import Path
from typing import Callable

import redis

from jobmodel.states import JobState
from protovideo.service.sources.base import (PRIORITIES, ClaimedJob, JobSource, LeaseLost,
                                             cancel_record, decode_raw_job, default_worker_name,
                                             now_iso)
from protovideo.service.sources.presence import RedisPresence
from protovideo.service.sources.stream_group import GROUP, StreamGroupReader
from protovideo.service.sources.redis_store import RECORD_TTL, RedisStore, brief_record, now_us

log = logging.getLogger("protovideo.redis_source")



class RedisSource(StreamGroupReader, RedisStore, RedisPresence, JobSource):
    name = "redis"

    def __init__(self, settings, worker_name: str | None = None, client: redis.Redis | None = None,
                 clock: Callable[[], float] = time.time):
        """`clock`: wall-clock seconds for retry times. Leases are the Redis server's idle times
        of pending entries (tests age an entry with XCLAIM ... IDLE instead of sleeping)."""
        self.settings = settings
        self.clock = clock
        self.prefix = settings.REDIS_KEY_PREFIX or "protovideo"
        self.worker_name = worker_name or default_worker_name()
        self.lease_ms = max(1, int(settings.LEASE_SECONDS * 1000))
        self.max_attempts = settings.MAX_ATTEMPTS
        self.r = client or redis.Redis.from_url(settings.REDIS_URL, decode_responses=True,
                                                socket_connect_timeout=10, socket_timeout=30,
                                                health_check_interval=30)
        self._load_scripts()

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

    # ------------------------------------------------------------ claim
    def claim(self, priorities=PRIORITIES) -> ClaimedJob | None:
        """The next job of these priorities (highest first), or None."""
        self._ensure_groups()
        self._promote(keys=[self._delayed], args=[self.clock(), self.prefix])
        self._prune_consumers()
        return self._first_opened(priorities, lambda priority, _stream, entry_id, fields:
                                  self._open(priority, entry_id, fields))

    def _open(self, priority: str, entry_id: str, fields: dict) -> ClaimedJob | None:
        job_id = fields.get("id") or entry_id
        raw = fields.get("job", "")
        data, decode_error = decode_raw_job(raw)
        key = self._job_key(job_id)
        claimed_at = now_iso()
        attempts = int(self._claim_script(keys=[], args=[
            self.prefix, job_id, entry_id, self.worker_name, priority, claimed_at, now_us()]))
        if attempts == -2:   # its worker died after a cancel was requested: cancelled now
            self._cancel_taken_over(job_id, priority, entry_id, fields, data, raw)
            return None
        if attempts < 0:   # cancelled, ended, or queued again under another entry: drop it
            with self.r.pipeline(transaction=True) as pipe:
                pipe.xack(self._stream(priority), GROUP, entry_id)
                pipe.xdel(self._stream(priority), entry_id)
                pipe.execute()
            return None
        base_dir = fields.get("base_dir") or ""
        claimed = ClaimedJob(id=job_id, data=data, attempts=attempts, priority=priority,
                             base_dir=Path(base_dir) if base_dir else self.settings.path("ASSET_ROOT"),
                             decode_error=decode_error, claimed_at=claimed_at,
                             handle={"stream": self._stream(priority), "entry": entry_id,
                                     "fields": fields}, raw=raw if data is None else None)
        if self.dead_letter_if_worn_out(claimed):
            self.r.hincrby(key, "attempts", -1)
            return None
        return claimed

    def _cancel_taken_over(self, job_id: str, priority: str, entry_id: str, fields: dict,
                           data, raw: str) -> None:
        attempts = int(self.r.hget(self._job_key(job_id), "attempts") or 0)
        claimed = ClaimedJob(id=job_id, data=data, attempts=attempts, priority=priority,
                             handle={"stream": self._stream(priority), "entry": entry_id,
                                     "fields": fields}, raw=raw if data is None else None)
        self.record_cancelled(claimed, cancel_record(job_id, "started", attempts,
                                                     data if data is not None else raw))
        log.warning("job %s: its worker died after a cancel was requested; cancelled", job_id)

    def _cancel_was_requested(self, claimed: ClaimedJob) -> bool:
        """A retry or hand-back of a job whose cancel was requested ends it as cancelled."""
        if self.r.hget(self._job_key(claimed.id), "cancel_requested") != "1":
            return False
        job = claimed.job_data()
        self.record_cancelled(claimed, cancel_record(claimed.id, "started", claimed.attempts, job,
                                                     worker=self.worker_name))
        return True

    def piece_tasks(self):
        """The piece tasks of split jobs (SPLIT_SCENES) on this server: piece_tasks.py."""
        from protovideo.service.sources.piece_tasks import RedisPieceTasks
        return RedisPieceTasks(self)

    # ------------------------------------------------------------ while running
    def heartbeat(self, claimed: ClaimedJob) -> None:
        stream, entry = claimed.handle["stream"], claimed.handle["entry"]
        pending = self.r.xpending_range(stream, GROUP, min=entry, max=entry, count=1)
        if not pending or pending[0]["consumer"] != self.worker_name:
            raise LeaseLost(f"job {claimed.id}: the lease ran out and another worker took it")
        key = self._job_key(claimed.id)
        with self.r.pipeline(transaction=False) as pipe:
            pipe.xclaim(stream, GROUP, self.worker_name, 0, [entry], justid=True)
            pipe.hset(key, mapping={"progress": json.dumps(claimed.progress),
                                    "heartbeat_at": now_iso()})
            pipe.hget(key, "cancel_requested")
            cancel = pipe.execute()[-1]
        if cancel == "1":
            claimed.request_cancel("cancelled")

    # ------------------------------------------------------------ outcomes
    def _ack(self, pipe, claimed: ClaimedJob) -> None:
        pipe.xack(claimed.handle["stream"], GROUP, claimed.handle["entry"])
        pipe.xdel(claimed.handle["stream"], claimed.handle["entry"])

    def _stamp(self, claimed: ClaimedJob, record: dict) -> dict:
        """The record with the job's priority and submission time (for lists and the API)."""
        extra = {"priority": claimed.priority}
        if claimed.handle["fields"].get("base_dir"):
            extra["base_dir"] = claimed.handle["fields"]["base_dir"]   # where a retry resolves paths
        submitted = self.r.hget(self._job_key(claimed.id), "submitted_at")
        if submitted:
            extra["submitted_at"] = submitted
        return {**record, **{k: v for k, v in extra.items() if k not in record}}

    def _end(self, claimed: ClaimedJob, state: JobState, record: dict, counter: str,
             dead_letter: bool = False) -> None:
        record = self._stamp(claimed, record)
        with self.r.pipeline(transaction=True) as pipe:
            self.move(claimed.id, state, {"record": json.dumps(record), "brief_record": brief_record(record),
                                          "finished_at": record.get("finished_at") or now_iso(),
                                          "cancel_requested": "0"},
                      ttl=RECORD_TTL, client=pipe)
            pipe.hincrby(f"{self.prefix}:stats", counter, 1)
            if dead_letter:
                pipe.xadd(self._dead, {"id": claimed.id, "record": json.dumps(record)})
            self._ack(pipe, claimed)
            pipe.execute()
        self._notify_final(state, record)

    def complete(self, claimed: ClaimedJob, record: dict) -> None:
        self._end(claimed, JobState.FINISHED, record, "finished")

    def record_cancelled(self, claimed: ClaimedJob, record: dict) -> None:
        self._end(claimed, JobState.CANCELLED, record, "cancelled")

    def fail(self, claimed: ClaimedJob, error: dict, retry_in: float | None = None) -> None:
        if retry_in is not None and self._cancel_was_requested(claimed):
            return
        if retry_in is None:
            self._end(claimed, JobState.FAILED, self.failure_record(claimed, error), "failed",
                      dead_letter=True)
            return
        member = self._delayed_member(claimed)
        with self.r.pipeline(transaction=True) as pipe:
            pipe.zadd(self._delayed, {member: self.clock() + retry_in})
            self.move(claimed.id, JobState.QUEUED, {
                "last_error": json.dumps(error), "retry_at": self.clock() + retry_in,
                "delayed_member": member, "entry": ""}, client=pipe)
            self._ack(pipe, claimed)
            pipe.execute()

    def _delayed_member(self, claimed: ClaimedJob) -> str:
        fields = claimed.handle["fields"]
        return json.dumps({"id": claimed.id, "priority": claimed.priority,
                           "job": fields.get("job", ""), "base_dir": fields.get("base_dir", ""),
                           "nonce": uuid.uuid4().hex[:8]})

    def release(self, claimed: ClaimedJob) -> None:
        if self._cancel_was_requested(claimed):
            return
        fields = claimed.handle["fields"]
        with self.r.pipeline(transaction=True) as pipe:
            self._requeue_script(keys=[], args=[self.prefix, claimed.id, claimed.handle["stream"],
                                                fields.get("job", ""), fields.get("base_dir", ""),
                                                now_us()], client=pipe)
            self._ack(pipe, claimed)
            pipe.execute()

    # ------------------------------------------------------------ status
    def is_drained(self) -> bool:
        return all(self.r.xlen(self._stream(p)) == 0 for p in PRIORITIES) and \
            self.r.zcard(self._delayed) == 0

    def status(self, job_id: str | None = None) -> dict:
        if job_id is not None:
            return super().status(job_id)
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
                "failed": int(stats.get("failed", 0)), "cancelled": int(stats.get("cancelled", 0)),
                "dead_letter": self.r.xlen(self._dead)}

    def close(self) -> None:
        self.r.close()
