"""Lists and status read a small brief of each job, never its whole body (issue 22): with 50
queued jobs of 1.6 MB each, a list of 50, a job's status and the queue depths read a few KB.

Bytes read are counted by independent meters: the kernel's count of what a process read
(/proc/PID/io rchar) for the spool, in this process and in a real API process; the bytes the
Redis client received on its socket for Redis. Each meter is shown to see a body read (the
job with its data) before it is trusted to see none."""
from __future__ import annotations

import socket
import uuid
from pathlib import Path

import pytest
import redis

from api_helpers import ApiProcess
from daemon_helpers import tiny_job
from protovideo.service.sources.redis_streams import RedisSource
from protovideo.service.sources.spool import SpoolSource

JOBS = 50
BODY_CHARS = 1_600_000
BODY = JOBS * BODY_CHARS
LITTLE = 1_000_000      # what a list of 50 plus status may read: briefs, .state files, folder names


def big_job(n: int) -> dict:
    # the store keeps what it is given (the API checks jobs before); 1.6 MB of text in a title
    return tiny_job(f"big{n:02d}", scenes=1,
                    overlays=[{"type": "note", "text": "x" * BODY_CHARS}])


def read_bytes(pid: int | str = "self") -> int:
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise AssertionError("no rchar in /proc/PID/io")


def queue_big_jobs(source, failed: int = 0) -> None:
    for n in range(JOBS):
        source.submit(big_job(n))
    for _ in range(failed):   # ended: their records hold a copy of the job
        claimed = source.claim()
        source.fail(claimed, {"type": "JobFailed", "message": "no"})
    for _ in range(5):   # some are running: their listing reads .state beside the brief
        assert source.claim() is not None


def test_spool_list_and_status_read_briefs_not_bodies(make_settings):
    settings = make_settings(LEASE_SECONDS=600)
    queue_big_jobs(SpoolSource(settings), failed=5)
    source = SpoolSource(settings)   # a fresh process's view: nothing cached

    before = read_bytes()
    jobs, _ = source.list_jobs(limit=JOBS)
    one = source.status("big07")
    failed = source.status("big01")
    depths = source.status()
    brief = source.get("big20", with_job=False)
    spent = read_bytes() - before

    assert len(jobs) == JOBS and {j.state.value for j in jobs} == {"queued", "started", "failed"}
    assert all(j.title == "" and j.priority == "normal" for j in jobs)
    assert sum(j.state.value == "started" for j in jobs) == 5
    assert [j.record["error"]["message"] for j in jobs if j.state.value == "failed"] == ["no"] * 5
    assert one["state"] == "started" and one["submitted_at"] and one["attempts"] == 1
    assert failed["state"] == "failed" and failed["record"]["error"]["message"] == "no"
    assert depths["queued_total"] == JOBS - 10 and depths["started"] == 5 and depths["failed"] == 5
    assert brief.job is None and brief.attempts == 0 and brief.state.value == "queued"
    assert spent < LITTLE, f"read {spent} bytes for a list, a status and the depths"

    before = read_bytes()                      # the meter sees a body read
    whole = source.get("big33", with_job=True)
    assert whole.job["overlays"][0]["text"] == "x" * BODY_CHARS
    assert read_bytes() - before >= BODY_CHARS
    before = read_bytes()                      # and an ended job's whole record
    assert source.get("big02", with_job=True).record["job"]["id"] == "big02"
    assert read_bytes() - before >= BODY_CHARS


def test_the_api_lists_without_reading_bodies(tmp_path, make_settings):
    api = ApiProcess(tmp_path, "serve", LEASE_SECONDS="600")
    try:
        for path in ("/v1/jobs?limit=50", "/v1/queue", "/v1/jobs/none", "/dashboard"):
            api.get(path)   # the routes' first call imports what they need: not counted
        queue_big_jobs(SpoolSource(make_settings(LEASE_SECONDS=600)))   # the server's spool folder
        pid = api.proc.pid
        before = read_bytes(pid)
        api.get("/v1/jobs", params={"limit": JOBS})
        first = read_bytes(pid) - before
        # the ETA of a queued job is its work plan, read once per job and kept (eta.py): the first
        # list reads each body once at most, for that; the list itself reads briefs
        assert first < BODY + LITTLE, f"the first list read {first} bytes"
        before = read_bytes(pid)
        listed = api.get("/v1/jobs", params={"limit": JOBS}).json()["jobs"]
        one = api.get("/v1/jobs/big07").json()
        queue = api.get("/v1/queue").json()
        spent = read_bytes(pid) - before
        assert len(listed) == JOBS and one["id"] == "big07" and "job" not in one
        assert queue
        assert spent < LITTLE, f"the server read {spent} bytes for a list, a job and the queue"

        before = read_bytes(pid)
        assert len(api.get("/v1/jobs/big03", params={"with_job": "true"}).json()["job"]["overlays"][0]["text"]) \
            == BODY_CHARS
        assert read_bytes(pid) - before >= BODY_CHARS
    finally:
        api.stop()


# ---------------------------------------------------------------- redis
class CountingSocket:
    """A socket that counts the bytes received on it."""

    def __init__(self, sock: socket.socket, meter: list[int]):
        self._sock, self._meter = sock, meter

    def recv(self, *args, **kw):
        data = self._sock.recv(*args, **kw)
        self._meter[0] += len(data)
        return data

    def recv_into(self, buffer, *args, **kw):
        n = self._sock.recv_into(buffer, *args, **kw)
        self._meter[0] += n
        return n

    def __getattr__(self, name):
        return getattr(self._sock, name)


def counting_client(url: str) -> tuple[redis.Redis, list[int]]:
    meter = [0]

    class Counting(redis.connection.Connection):
        def _connect(self):
            return CountingSocket(super()._connect(), meter)

    pool = redis.ConnectionPool.from_url(url, decode_responses=True, connection_class=Counting)
    return redis.Redis(connection_pool=pool), meter


@pytest.fixture
def redis_prefix(redis_url):
    prefix = f"pvtest-{uuid.uuid4().hex[:10]}"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(f"{prefix}:*"))
    if keys:
        client.delete(*keys)
    client.close()


def test_redis_list_and_status_read_no_job_body(make_settings, redis_url, redis_prefix):
    settings = make_settings(JOB_SOURCE="redis", REDIS_URL=redis_url, REDIS_KEY_PREFIX=redis_prefix,
                             LEASE_SECONDS=600)
    worker = RedisSource(settings)
    for n in range(10):   # 16 MB in Redis is plenty to see a body read
        worker.submit(big_job(n))
    claimed = worker.claim()
    worker.fail(claimed, {"type": "JobFailed", "message": "no"})   # a failed record holds the job too
    client, meter = counting_client(redis_url)
    source = RedisSource(settings, client=client)
    source.status()                                             # groups and scripts loaded
    meter[0] = 0
    jobs, _ = source.list_jobs(limit=JOBS)
    one = source.status("big05")
    failed = source.list_jobs(state="failed")[0]
    assert len(jobs) == 10 and one["state"] == "queued" and [j.id for j in failed] == [claimed.id]
    assert failed[0].record["error"]["message"] == "no"
    assert meter[0] < LITTLE, f"received {meter[0]} bytes for two lists and a status"

    meter[0] = 0
    assert len(source.get("big04", with_job=True).job["overlays"][0]["text"]) == BODY_CHARS
    assert meter[0] >= BODY_CHARS


def test_spool_briefs_follow_their_jobs(make_settings):
    """A brief per queued or running job, gone when it ends, and one per ended job's record; made
    again when lost or no longer matching; strays swept."""
    from lease_clock import ManualClock
    clock = ManualClock()
    source = SpoolSource(make_settings(LEASE_SECONDS=30), clock=clock)
    briefs = source.root / "briefs"
    for n in range(3):
        source.submit(tiny_job(f"j{n}", scenes=1, **({"output_filename": f"title{n}.mp4"})))
    assert len(list(briefs.iterdir())) == 3
    running = source.claim()
    source.complete(running, {"id": running.id, "status": "done"})
    source.cancel("j1")
    names = sorted(p.name for p in briefs.iterdir())
    assert names[1:] == ["cancelled.j1.json", "done.j0.json"] and names[0].endswith("-j2.json")
    queued = briefs / names[0]
    queued.unlink()                                           # lost (a crash between two writes)
    record = source.root / "done" / "j0.json"
    record.write_text(record.read_text().replace('"done"', '"done" ', 1))   # rewritten by hand
    fresh = SpoolSource(make_settings(LEASE_SECONDS=30), clock=clock)
    listed = {j.id: j for j in fresh.list_jobs()[0]}
    assert (listed["j2"].state.value, listed["j2"].title) == ("queued", "title2.mp4")
    assert listed["j0"].state.value == "finished" and listed["j0"].record["status"] == "done"
    assert queued.exists()                                    # made again from the job
    assert fresh.briefs.read_final("done", "j0", record) is not None   # matches the new record
    stray = briefs / "2-00000000000000000001-gone.json"
    stray.write_text('{"id": "gone", "title": "", "attempts": 0}')
    clock.advance(60)
    fresh.reclaim_expired()
    assert not stray.exists() and sorted(p.name for p in briefs.iterdir()) == names
