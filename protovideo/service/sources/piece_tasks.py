"""Piece tasks (SPLIT_SCENES) on the Redis source: a split job's pieces as stream messages.

The coordinator of a split job (protovideo/pipeline/split.py) puts one message per piece that
is in no cache level yet; every worker takes them beside whole jobs, highest priority first
(a piece ranks with its job's priority, before whole jobs of that priority: its job already
runs). Nothing here schedules: the messages are taken, leased and taken over exactly as jobs
are, by the Redis Streams consumer group (redis_streams.py):

    {prefix}:pieces:{priority}  one stream per priority, consumer group "workers";
                                entry fields: job (id), key (the piece's cache key), name, task (JSON)
    {prefix}:split:{job id}     hash: state (open / closed), entry:<key> (the piece's live entry),
                                tries:<key>, taken:<key> (the worker holding it), done:<key> (JSON:
                                state done/failed, worker, made, seconds, tries, error)

A worker holding a piece renews its lease with heartbeats (XCLAIM to itself); a piece pending
longer than LEASE_SECONDS belongs to a dead worker and another takes it over (XAUTOCLAIM),
its tries counted; past MAX_ATTEMPTS it fails for good, as does a piece whose render fails
(a TransientError is tried again, up to MAX_ATTEMPTS). A piece's job cancelled or ended
(closed by its coordinator, or cancel_requested on the job) stops its holder at the next
heartbeat; closing drops the messages nobody took yet.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

import redis

from jobmodel.errors import error_record
from protovideo.runtime.secrets import scrub
from protovideo.service.sources.base import PRIORITIES, LeaseLost, now_iso
from protovideo.service.sources.stream_group import GROUP, StreamGroupReader

log = logging.getLogger("protovideo.piece_tasks")

SPLIT_TTL = 24 * 3600      # a split job's hash outlives its job by this much at most
CLOSED_TTL = 3600          # kept this long after its job ended (the report has the rest)

# A worker opens a piece entry it read. ARGV: key, entry, worker
# -> tries, or -1 when the entry is stale (job closed, piece done, or re-queued under another entry)
OPEN = """
local h = KEYS[1]
if redis.call('HGET', h, 'state') ~= 'open' then return -1 end
if redis.call('HGET', h, 'entry:' .. ARGV[1]) ~= ARGV[2] then return -1 end
if redis.call('HEXISTS', h, 'done:' .. ARGV[1]) == 1 then return -1 end
redis.call('HSET', h, 'taken:' .. ARGV[1], ARGV[3])
return redis.call('HINCRBY', h, 'tries:' .. ARGV[1], 1)
"""

# Queue pieces, each message and its live entry at once (a worker may read it at once).
# KEYS: split hash, stream; ARGV: job id, then key, name, task for each piece
PUT = """
for i = 2, #ARGV, 3 do
  local entry = redis.call('XADD', KEYS[2], '*', 'job', ARGV[1], 'key', ARGV[i], 'name', ARGV[i + 1],
                           'task', ARGV[i + 2])
  redis.call('HSET', KEYS[1], 'entry:' .. ARGV[i], entry)
end
return 1
"""


class Either:
    """Set when either event is (what a piece's render checks for a cancel: is_set)."""

    def __init__(self, first: threading.Event, second: threading.Event):
        self.first, self.second = first, second

    def is_set(self) -> bool:
        return self.first.is_set() or self.second.is_set()


@dataclass
class PieceTask:
    """One piece a worker has taken: its job, cache key, name and message."""
    job_id: str
    key: str
    name: str
    priority: str
    stream: str
    entry: str
    message: dict
    tries: int
    fields: dict
    cancel: threading.Event = field(default_factory=threading.Event)

    @property
    def id(self) -> str:   # how the worker loop names what it runs
        return f"{self.job_id}/{self.name}"


class RedisPieceTasks(StreamGroupReader):
    """The piece tasks of one Redis source (its client, prefix, worker name, lease and attempts)."""

    def __init__(self, source):
        self.r: redis.Redis = source.r
        self.prefix = source.prefix
        self.worker_name = source.worker_name
        self.lease_ms = source.lease_ms
        self.max_attempts = source.max_attempts
        self._open_script = self.r.register_script(OPEN)
        self._put_script = self.r.register_script(PUT)

    def _stream(self, priority: str) -> str:
        return f"{self.prefix}:pieces:{priority}"

    def _split(self, job_id: str) -> str:
        return f"{self.prefix}:split:{job_id}"

    # ------------------------------------------------------------ the coordinator's side
    def put(self, job_id: str, priority: str, items: list[tuple[str, str, dict]], fresh: bool = True) -> None:
        """Queue the pieces `items` ((key, name, message) each) of job `job_id` at its priority.
        `fresh` (a coordinator's first put): messages a coordinator before it left (it died)
        are dropped; pieces seen done stay done."""
        self._ensure_groups()
        split = self._split(job_id)
        if fresh:
            self._drop_entries(job_id)
        stream = self._stream(priority if priority in PRIORITIES else "normal")
        with self.r.pipeline(transaction=True) as pipe:
            pipe.hset(split, mapping={"state": "open", "priority": priority, "opened_at": now_iso()})
            for key, _name, _message in items:
                pipe.hdel(split, f"tries:{key}", f"taken:{key}")
            pipe.expire(split, SPLIT_TTL)
            pipe.execute()
        args = [job_id]
        for key, name, message in items:
            args += [key, name, json.dumps(message)]
        if items:
            self._put_script(keys=[split, stream], args=args)

    def outcomes(self, job_id: str) -> dict[str, dict]:
        """The pieces of `job_id` that ended: key -> {state: done|failed, worker, ...}."""
        values = self.r.hgetall(self._split(job_id))
        return {name[5:]: json.loads(value) for name, value in values.items() if name.startswith("done:")}

    def holders(self, job_id: str) -> dict[str, str]:
        """The pieces of `job_id` being made now: key -> the worker that took it."""
        values = self.r.hgetall(self._split(job_id))
        done = {name[5:] for name in values if name.startswith("done:")}
        return {name[6:]: worker for name, worker in values.items()
                if name.startswith("taken:") and name[6:] not in done}

    def close(self, job_id: str) -> None:
        """The job ended (done, failed or cancelled): its untaken messages go, holders stop."""
        split = self._split(job_id)
        self.r.hset(split, "state", "closed")
        self._drop_entries(job_id)
        self.r.expire(split, CLOSED_TTL)

    def _drop_entries(self, job_id: str) -> None:
        values = self.r.hgetall(self._split(job_id))
        stream = self._stream(values.get("priority") or "normal")
        entries = [v for k, v in values.items() if k.startswith("entry:")]
        if entries:
            self.r.xdel(stream, *entries)   # a taken one stays pending until its holder acks it

    # ------------------------------------------------------------ every worker's side
    def claim(self, priorities=PRIORITIES) -> PieceTask | None:
        """The next piece task of these priorities (highest first), or None."""
        self._ensure_groups()
        self._prune_consumers()
        return self._first_opened(priorities, self._open)

    def claim_beside(self, source, priorities=PRIORITIES):
        """A piece task or a whole job of `source`, whichever ranks first: at each priority
        the pieces (their job already runs) before the jobs."""
        for priority in priorities:
            task = self.claim((priority,))
            if task is not None:
                return task
            job = source.claim(priorities=(priority,))
            if job is not None:
                return job
        return None

    def work_one(self, make: Callable[[str, dict, threading.Event], dict],
                 stop: threading.Event | None = None) -> bool:
        """Take the next piece task and make it (`run`); False when there was none. `stop`: the
        taker's own job's cancel (a coordinator's): set, the piece is handed back, not failed."""
        task = self.claim()
        if task is None:
            return False
        self.run(task, make, stop)
        return True

    def _taken_over(self, entry_id: str, fields: dict) -> None:
        log.warning("took over piece %s of job %s from a dead worker (lease ran out)",
                    fields.get("name"), fields.get("job"))

    def _open(self, priority: str, stream: str, entry: str, fields: dict) -> PieceTask | None:
        job_id, key, name = fields.get("job", ""), fields.get("key", ""), fields.get("name", "")
        tries = int(self._open_script(keys=[self._split(job_id)], args=[key, entry, self.worker_name]))
        try:
            message = json.loads(fields.get("task") or "null")
        except ValueError:
            message = None
        task = PieceTask(job_id, key, name, priority, stream, entry, message, tries, fields)
        if tries < 0:   # its job closed, the piece done, or queued again under a newer entry
            self._ack(task)
            return None
        if tries > self.max_attempts:
            self.finish(task, {"state": "failed", "worker": self.worker_name, "tries": tries - 1,
                               "error": {"type": "LeaseExpired", "message":
                                         f"its workers stopped without finishing it {tries - 1} times "
                                         f"(MAX_ATTEMPTS={self.max_attempts})"}})
            return None
        return task

    def _ack(self, task: PieceTask) -> None:
        with self.r.pipeline(transaction=True) as pipe:
            pipe.xack(task.stream, GROUP, task.entry)
            pipe.xdel(task.stream, task.entry)
            pipe.execute()

    def heartbeat(self, task: PieceTask) -> None:
        """Renew the lease (LeaseLost when another worker has the piece now); a closed or
        cancelled job sets the task's cancel."""
        with self.r.pipeline(transaction=False) as pipe:
            pipe.hget(self._split(task.job_id), "state")
            pipe.hmget(f"{self.prefix}:job:{task.job_id}", "state", "cancel_requested")
            split_state, (job_state, cancel) = pipe.execute()
        if split_state != "open" or cancel == "1" or job_state not in (None, "started"):
            task.cancel.set()   # (a closed job's messages are gone: its pending entries with them)
            return
        pending = self.r.xpending_range(task.stream, GROUP, min=task.entry, max=task.entry, count=1)
        if not pending or pending[0]["consumer"] != self.worker_name:
            raise LeaseLost(f"piece {task.name} of job {task.job_id}: the lease ran out")
        self.r.xclaim(task.stream, GROUP, self.worker_name, 0, [task.entry], justid=True)

    def finish(self, task: PieceTask, outcome: dict) -> None:
        """Record the piece's outcome (done or failed for good) and acknowledge its message."""
        with self.r.pipeline(transaction=True) as pipe:
            pipe.hset(self._split(task.job_id), f"done:{task.key}", json.dumps(scrub(outcome)))
            pipe.xack(task.stream, GROUP, task.entry)
            pipe.xdel(task.stream, task.entry)
            pipe.execute()

    def _again(self, task: PieceTask) -> None:
        """Queue the piece again at once (a transient failure), under a new entry."""
        entry = self.r.xadd(task.stream, {k: task.fields[k] for k in ("job", "key", "name", "task")})
        self.r.hset(self._split(task.job_id), f"entry:{task.key}", entry)
        self._ack(task)

    def run(self, task: PieceTask, make: Callable[[str, dict, threading.Event], dict],
            stop: threading.Event | None = None) -> str:
        """Make the piece (`make(key, message, cancel)` -> {made}) while heartbeats keep its
        lease; record how it ended: done, failed, retried, stopped, handed back (`stop` set) or lost."""
        done, lost = threading.Event(), threading.Event()
        interval = max(0.2, min(self.lease_ms / 3000, 1.5))

        def beats() -> None:
            while not done.wait(interval):
                try:
                    self.heartbeat(task)
                except LeaseLost as exc:
                    log.error("%s", exc)
                    lost.set()
                    task.cancel.set()
                    return
                except Exception as exc:   # noqa: BLE001 - Redis trouble: the lease may still hold
                    log.warning("piece %s: heartbeat failed: %s", task.id, exc)

        heart = threading.Thread(target=beats, name=f"piece-beat-{task.name}", daemon=True)
        heart.start()
        started = time.monotonic()
        try:
            info = make(task.key, task.message, task.cancel if stop is None else Either(task.cancel, stop))
            error = None
        except Exception as exc:   # noqa: BLE001 - every failure is recorded with the piece
            info, error = {}, exc
        finally:
            done.set()
            heart.join(5)
        if lost.is_set():
            return "lost"
        if error is not None and task.cancel.is_set():
            self._ack(task)
            log.info("piece %s stopped: its job was cancelled or ended", task.id)
            return "stopped"
        if error is not None and stop is not None and stop.is_set():
            self._again(task)   # the taker's own job stopped: another worker makes this piece
            return "handed back"
        if error is not None and getattr(error, "retryable", False) and task.tries < self.max_attempts:
            log.warning("piece %s failed (%s); queued again", task.id, error)
            self._again(task)
            return "retried"
        outcome = {"worker": self.worker_name, "tries": task.tries, "finished_at": now_iso(),
                   "seconds": round(time.monotonic() - started, 3)}
        if error is not None:
            log.error("piece %s failed: %s", task.id, error)
            self.finish(task, {**outcome, "state": "failed", "error": error_record(error)})
            return "failed"
        self.finish(task, {**outcome, "state": "done", "made": bool(info.get("made"))})
        return "done"
