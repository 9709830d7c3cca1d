"""The Redis source's job store side: submit (idempotent), get, list_jobs, cancel.

A mixin of RedisSource (redis_streams.py). Job state lives in Redis, so any API
process answers for any job. Keys besides the streams (prefix = REDIS_KEY_PREFIX):

    {prefix}:job:{id}        hash: state, attempts, priority, worker, progress, record,
                             brief_record (the record less its copy of the job: lists and
                             status read it, never the job body), title,
                             job, submitted_at, submitted_us, claimed_at, finished_at,
                             stream + entry (the job's live stream entry),
                             delayed_member (while waiting for a retry),
                             cancel_requested ("1" while a running job waits to stop)
    {prefix}:jobs            sorted set: every job id by submission time (µs)
    {prefix}:state:{state}   sorted set per state, same scores (lists by state)
    {prefix}:prio:{priority} sorted set per priority, same scores (lists by priority)
    {prefix}:idem:{sha256}   the job id of an Idempotency-Key, kept 24 h

Every state change goes through a Lua script (MOVE), so a job's hash and the
state sets never disagree. A stream entry that is not the job's live entry (a
cancelled or superseded one) is acknowledged and dropped when a worker reads it.
"""
from __future__ import annotations

import hashlib
import json
import time
import uuid
from pathlib import Path

from jobmodel.states import JobState
from jobmodel.title import job_title
from protovideo.service.sources.base import cancel_record, priority_of
from protovideo.service.sources.store import (JobInfo, JobNotCancellable, JobNotFound, SubmitResult,
                                              check_list_args, decode_cursor, encode_cursor,
                                              progress_view, us_to_iso)

RECORD_TTL = 30 * 24 * 3600   # ended jobs are kept 30 days
KEY_TTL = 24 * 3600           # an Idempotency-Key is remembered this long
STATES = [s.value for s in JobState]

# ARGV: prefix, id, state, now_us, ttl (0: none), then field, value pairs for the hash
MOVE_LUA = """
local function move(prefix, id, state, now_us)
  local hkey = prefix .. ':job:' .. id
  local score = redis.call('HGET', hkey, 'submitted_us')
  if not score then
    score = now_us
    redis.call('HSET', hkey, 'submitted_us', score)
  end
  redis.call('ZADD', prefix .. ':jobs', score, id)
  for _, s in ipairs({'queued', 'started', 'finished', 'failed', 'cancelled'}) do
    redis.call('ZREM', prefix .. ':state:' .. s, id)
  end
  redis.call('ZADD', prefix .. ':state:' .. state, score, id)
  redis.call('HSET', hkey, 'state', state)
  return hkey
end
"""

MOVE = MOVE_LUA + """
local hkey = move(ARGV[1], ARGV[2], ARGV[3], ARGV[4])
for i = 6, #ARGV, 2 do redis.call('HSET', hkey, ARGV[i], ARGV[i + 1]) end
if tonumber(ARGV[5]) > 0 then redis.call('EXPIRE', hkey, ARGV[5]) else redis.call('PERSIST', hkey) end
return 1
"""

# ARGV: prefix, id, job JSON, base_dir, priority, submitted_at, submitted_us, idem key ('' = none),
# title. One script: the job, its indexes and its key are written together or not at all.
SUBMIT = MOVE_LUA + """
local prefix, id = ARGV[1], ARGV[2]
local hkey = prefix .. ':job:' .. id
if ARGV[8] ~= '' then
  local known = redis.call('GET', ARGV[8])
  if known then
    local st = redis.call('HGET', prefix .. ':job:' .. known, 'state')
    if st then return {known, 0, st} end
  end
end
local st = redis.call('HGET', hkey, 'state')
if st == 'queued' or st == 'started' then
  if ARGV[8] ~= '' then redis.call('SET', ARGV[8], id, 'EX', 86400) end
  return {id, 0, st}
end
redis.call('DEL', hkey)
local stream = prefix .. ':stream:' .. ARGV[5]
local entry = redis.call('XADD', stream, '*', 'id', id, 'job', ARGV[3], 'base_dir', ARGV[4])
redis.call('HSET', hkey, 'attempts', 0, 'priority', ARGV[5], 'submitted_at', ARGV[6],
           'submitted_us', ARGV[7], 'job', ARGV[3], 'base_dir', ARGV[4],
           'stream', stream, 'entry', entry, 'title', ARGV[9])
move(prefix, id, 'queued', ARGV[7])
for _, p in ipairs({'critical', 'high', 'normal', 'low'}) do
  redis.call('ZREM', prefix .. ':prio:' .. p, id)
end
redis.call('ZADD', prefix .. ':prio:' .. ARGV[5], ARGV[7], id)
if ARGV[8] ~= '' then redis.call('SET', ARGV[8], id, 'EX', 86400) end
return {id, 1, 'queued'}
"""

# A worker opens an entry it read. ARGV: prefix, id, entry, worker, priority, claimed_at, now_us
# -> attempts, or -1 when the entry is stale (the job was cancelled, ended, or re-queued elsewhere),
# -2 when it is taken over from a dead worker after a cancel was requested (cancel it now)
CLAIM = MOVE_LUA + """
local hkey = ARGV[1] .. ':job:' .. ARGV[2]
local st = redis.call('HGET', hkey, 'state')
local entry = redis.call('HGET', hkey, 'entry')
if st == 'cancelled' or st == 'finished' or st == 'failed' then return -1 end
if entry and entry ~= ARGV[3] then return -1 end
if st == 'started' and redis.call('HGET', hkey, 'cancel_requested') == '1' then return -2 end
local attempts = redis.call('HINCRBY', hkey, 'attempts', 1)
move(ARGV[1], ARGV[2], 'started', ARGV[7])
redis.call('HSET', hkey, 'worker', ARGV[4], 'priority', ARGV[5], 'claimed_at', ARGV[6],
           'progress', '{}', 'cancel_requested', '0', 'entry', ARGV[3])
redis.call('HDEL', hkey, 'retry_at', 'delayed_member')
return attempts
"""

# Queue a job again at once (release). ARGV: prefix, id, stream, job, base_dir, now_us
REQUEUE = MOVE_LUA + """
local hkey = ARGV[1] .. ':job:' .. ARGV[2]
local entry = redis.call('XADD', ARGV[3], '*', 'id', ARGV[2], 'job', ARGV[4], 'base_dir', ARGV[5])
redis.call('HSET', hkey, 'stream', ARGV[3], 'entry', entry)
redis.call('HINCRBY', hkey, 'attempts', -1)
move(ARGV[1], ARGV[2], 'queued', ARGV[6])
return entry
"""

# Move due retries back into their streams atomically (no job can be lost in between).
# KEYS[1] delayed set; ARGV: now, prefix
PROMOTE = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, 100)
for _, member in ipairs(due) do
  redis.call('ZREM', KEYS[1], member)
  local e = cjson.decode(member)
  local hkey = ARGV[2] .. ':job:' .. e.id
  if redis.call('HGET', hkey, 'state') ~= 'cancelled' then
    local stream = ARGV[2] .. ':stream:' .. e.priority
    local entry = redis.call('XADD', stream, '*', 'id', e.id, 'job', e.job, 'base_dir', e.base_dir)
    redis.call('HSET', hkey, 'stream', stream, 'entry', entry)
    redis.call('HDEL', hkey, 'delayed_member')
  end
end
return #due
"""

# ARGV: prefix, id, record JSON (if queued), now_iso, now_us, ttl, brief record JSON -> {state before}
CANCEL = MOVE_LUA + """
local prefix, id = ARGV[1], ARGV[2]
local hkey = prefix .. ':job:' .. id
local st = redis.call('HGET', hkey, 'state')
if not st then return {'unknown'} end
if st == 'queued' then
  local stream, entry = redis.call('HGET', hkey, 'stream'), redis.call('HGET', hkey, 'entry')
  if stream and entry and entry ~= '' then redis.call('XDEL', stream, entry) end
  local member = redis.call('HGET', hkey, 'delayed_member')
  if member and member ~= '' then redis.call('ZREM', prefix .. ':delayed', member) end
  move(prefix, id, 'cancelled', ARGV[5])
  redis.call('HSET', hkey, 'record', ARGV[3], 'brief_record', ARGV[7], 'finished_at', ARGV[4])
  redis.call('HDEL', hkey, 'entry', 'delayed_member', 'retry_at')
  redis.call('EXPIRE', hkey, ARGV[6])
  redis.call('HINCRBY', prefix .. ':stats', 'cancelled', 1)
  return {'queued'}
end
if st == 'started' then
  redis.call('HSET', hkey, 'cancel_requested', '1')
end
return {st}
"""

# Many jobs' fields in one call (the list page). ARGV: prefix, then field names, '--', ids
PAGE = """
local prefix, fields, ids, i = ARGV[1], {}, {}, 2
while ARGV[i] ~= '--' do fields[#fields + 1] = ARGV[i]; i = i + 1 end
local out = {}
for j = i + 1, #ARGV do
  out[#out + 1] = redis.call('HMGET', prefix .. ':job:' .. ARGV[j], unpack(fields))
end
return out
"""

INFO_FIELDS = ["state", "priority", "attempts", "progress", "submitted_at", "submitted_us",
               "claimed_at", "finished_at", "worker", "retry_at", "cancel_requested", "brief_record", "title"]


def brief_record(record: dict) -> str:
    """The record as lists and status read it: without its copy of the job (megabytes, maybe)."""
    return json.dumps({k: v for k, v in record.items() if k != "job"})


def now_us() -> int:
    return time.time_ns() // 1000


class RedisStore:
    def _load_scripts(self) -> None:
        self._move = self.r.register_script(MOVE)
        self._submit_script = self.r.register_script(SUBMIT)
        self._claim_script = self.r.register_script(CLAIM)
        self._requeue_script = self.r.register_script(REQUEUE)
        self._promote = self.r.register_script(PROMOTE)
        self._cancel_script = self.r.register_script(CANCEL)
        self._page_script = self.r.register_script(PAGE)

    def _state_key(self, state: JobState | str) -> str:
        return f"{self.prefix}:state:{JobState(state).value}"

    def move(self, job_id: str, state: JobState, fields: dict | None = None, ttl: int = 0,
             client=None) -> None:
        """Set the job's state (hash and state sets at once) and hash fields; on `client`
        (a pipeline) when given."""
        args = [self.prefix, job_id, state.value, now_us(), ttl]
        for name, value in (fields or {}).items():
            args += [name, value if isinstance(value, (str, int, float)) else json.dumps(value)]
        self._move(keys=[], args=args, client=client)

    # ------------------------------------------------------------ submit
    def submit(self, data: dict, priority: str | None = None, base_dir: Path | None = None,
               idempotency_key: str | None = None) -> SubmitResult:
        self._ensure_groups()
        data = dict(data)
        if priority:
            data["priority"] = priority
        priority = priority_of(data)
        job_id = data.get("id") or uuid.uuid4().hex[:16]
        data["id"] = job_id
        us = now_us()
        key = f"{self.prefix}:idem:{hashlib.sha256(idempotency_key.encode()).hexdigest()}" \
            if idempotency_key else ""
        got_id, created, state = self._submit_script(keys=[], args=[
            self.prefix, job_id, json.dumps(data), str(Path(base_dir).resolve()) if base_dir else "",
            priority, us_to_iso(us), us, key, job_title(data) or ""])   # the title: lists show and search it
        return SubmitResult(str(got_id), bool(int(created)), JobState(state))

    # ------------------------------------------------------------ get / list
    def _info(self, job_id: str, values: dict, with_job: bool) -> JobInfo | None:
        try:
            state = JobState(values.get("state"))
        except ValueError:
            return None
        raw = values.get("record") or values.get("brief_record")
        if not raw and state.is_final and "record" not in values:   # ended before briefs were kept
            raw = self.r.hget(self._job_key(job_id), "record")
        record = json.loads(raw) if raw else None
        job = None
        if with_job:
            job = json.loads(values["job"]) if values.get("job") else \
                (record.get("job") if isinstance(record, dict) else None)
        progress = json.loads(values.get("progress") or "{}") if state is JobState.STARTED else {}
        if state is JobState.FINISHED:
            progress = {"done": 1, "total": 1, "what": "done"}
        retry_at = values.get("retry_at")
        return JobInfo(job_id, state, values.get("priority") or "normal",
                       int(values.get("attempts") or 0), progress_view(progress),
                       submitted_at=values.get("submitted_at"),
                       started_at=values.get("claimed_at") or None,
                       finished_at=values.get("finished_at") or
                       (record.get("finished_at") if isinstance(record, dict) else None),
                       worker=values.get("worker") or None,
                       retry_pending=state is JobState.QUEUED and bool(retry_at)
                       and float(retry_at) > self.clock(),
                       cancel_requested=state is JobState.STARTED and values.get("cancel_requested") == "1",
                       record=record, job=job if isinstance(job, dict) else None,
                       title=values.get("title") or (record.get("title") or job_title(record.get("job"))
                                                     if isinstance(record, dict) else None))

    def get(self, job_id: str, with_job: bool = True) -> JobInfo | None:
        if with_job:
            values = self.r.hgetall(self._job_key(job_id))
        else:   # the job's brief fields, never its body
            reply = self.r.hmget(self._job_key(job_id), INFO_FIELDS)
            values = {k: v for k, v in zip(INFO_FIELDS, reply) if v is not None}
        return self._info(job_id, values, with_job=with_job) if values else None

    def list_jobs(self, state=None, priority=None, limit: int = 50,
                  cursor: str | None = None) -> tuple[list[JobInfo], str | None]:
        state, priority, limit = check_list_args(state, priority, limit)
        after = decode_cursor(cursor) if cursor else None
        for _ in range(3):   # again when a job's hash expired under the listing
            rows = self._matching(state, priority, limit + 1, after)
            more = len(rows) > limit
            rows = rows[:limit]
            replies = self._page_script(keys=[], args=[self.prefix, *INFO_FIELDS, "--",
                                                       *(member for member, _ in rows)]) if rows else []
            page, gone = [], []
            for (member, score), reply in zip(rows, replies):
                values = {k: v for k, v in zip(INFO_FIELDS, reply) if v is not None}
                info = self._info(member, values, with_job=False) if values else None
                if info is None:
                    gone.append(member)
                else:
                    page.append((score, info))
            if not gone:
                break
            self._forget_ids(gone)
        next_cursor = encode_cursor(page[-1][0], page[-1][1].id) if more and page else None
        return [info for _score, info in page], next_cursor

    def _matching(self, state, priority, count: int, after) -> list[tuple[str, int]]:
        """Up to `count` (id, score) of the filters' jobs after the cursor, newest first,
        from the sorted sets alone (the hashes are read for the page only)."""
        if state is not None:
            index = self._state_key(state)
        elif priority is not None:
            index = f"{self.prefix}:prio:{priority}"
        else:
            index = f"{self.prefix}:jobs"
        check_priority = state is not None and priority is not None
        found: list[tuple[str, int]] = []
        top = "+inf" if after is None else after[0]
        batch = max(2 * count, 200) if check_priority else count
        while len(found) < count:
            rows = self.r.zrevrangebyscore(index, top, "-inf", start=0, num=batch, withscores=True)
            rows = [(member, int(score)) for member, score in rows
                    if after is None or (int(score), member) < after]
            if not rows:
                break
            if check_priority:
                scores = self.r.zmscore(f"{self.prefix}:prio:{priority}", [m for m, _ in rows])
                kept = [row for row, score in zip(rows, scores) if score is not None]
            else:
                kept = rows
            found.extend(kept[:count - len(found)])
            after = (rows[-1][1], rows[-1][0])
            top = after[0]
        return found

    def _forget_ids(self, ids: list[str]) -> None:
        """Ids whose hash has expired leave the indexes."""
        with self.r.pipeline(transaction=False) as pipe:
            pipe.zrem(f"{self.prefix}:jobs", *ids)
            for s in STATES:
                pipe.zrem(self._state_key(s), *ids)
            for p in ("critical", "high", "normal", "low"):
                pipe.zrem(f"{self.prefix}:prio:{p}", *ids)
            pipe.execute()

    # ------------------------------------------------------------ cancel
    def cancel(self, job_id: str) -> JobInfo:
        values = self.r.hgetall(self._job_key(job_id))
        if not values:
            raise JobNotFound(job_id)
        job = json.loads(values["job"]) if values.get("job") else None
        record = cancel_record(job_id, "queued", int(values.get("attempts") or 0), job,
                               priority=values.get("priority") or "normal",
                               submitted_at=values.get("submitted_at"))
        if values.get("base_dir"):
            record["base_dir"] = values["base_dir"]   # where a retry resolves relative paths
        before, = self._cancel_script(keys=[], args=[self.prefix, job_id, json.dumps(record),
                                                     record["finished_at"], now_us(), RECORD_TTL,
                                                     brief_record(record)])
        if before == "unknown":
            raise JobNotFound(job_id)
        info = self.get(job_id, with_job=False)
        if info is None:
            raise JobNotFound(job_id)
        if before == JobState.QUEUED:
            self._notify_final(JobState.CANCELLED, info.record or record)
        elif before != JobState.STARTED:
            raise JobNotCancellable(job_id, JobState(before))
        return info
