"""SPLIT_SCENES: one job rendered by several worker processes on one Redis, its pieces taken as
Redis Streams piece tasks (real workers, real pipeline, real Redis; S3 = radosgw).

- two "machines" (their own CACHE_DIR, one CACHE_STORE on S3) make one job together; the report
  names pieces from both; the output is the same as a single worker's render of the job (the
  same piece keys with the same bytes, the same decoded frames, ffprobe's duration), QC passed;
- a worker SIGKILLed while it holds a piece: the job still finishes, that piece made by the other
  after its lease, no piece tried more than twice, published once;
- a piece that fails for good (a worker that reaches no cache level the coordinator wrote to)
  fails the job, the piece named;
- a cancel of a running split job: cancelled within 5 s, its untaken pieces dropped, none held, nothing
  published;
- the queue's own rules on a real Redis: pieces rank with their job's priority, a closed or
  cancelled job's pieces are dropped and their holders stopped.
"""
from __future__ import annotations

import json
import re
import shutil
import signal
import time
import uuid
from pathlib import Path

import pytest
import redis

from cache import ArtifactCache
from daemon_helpers import wait_for
from job_parsing import parse_job
from media import ffprobe, streams
from protovideo.pipeline.render import make_context, render_job
from protovideo.runtime.settings import load_settings
from protovideo.service.sources.piece_tasks import RedisPieceTasks
from split_helpers import (Workers, cache_object, frame_hashes, poll, report_of, sha256, source, split_env,
                           split_job, wait_ended, worker_pid)


@pytest.fixture
def prefix(redis_url):
    name = f"split-{uuid.uuid4().hex[:8]}"
    yield name
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(f"{name}:*"))
    if keys:
        client.delete(*keys)
    client.close()


def _single_render(tmp_path, data: dict, narrated_in: Path):
    """The same job rendered by one worker alone (SPLIT_SCENES off), in a copy of the cache
    `narrated_in` without its videos: the same narration (Piper's voice is not the same twice)
    and pictures, every piece made again here."""
    from folders import folder_env
    cache_dir = tmp_path / "single" / "cache"
    shutil.copytree(narrated_in, cache_dir)
    cache = ArtifactCache(cache_dir, max_age_hours=168, protect_recent_s=0)
    videos = {p.name.split(".")[0] for p in (cache_dir / "objects").glob("*/*") if p.suffix in (".mp4", ".jpg")}
    assert all(cache.invalidate(key) for key in videos)
    cache.close()
    settings = load_settings({**folder_env(tmp_path / "single"), "CACHE_DIR": str(cache_dir), "MAX_WORKERS": "1"},
                             cwd=tmp_path, read_files=False)
    result = render_job(parse_job(data, tmp_path), make_context(settings))
    return result, cache_dir


def test_two_machines_make_one_job_the_same_as_one_worker(tmp_path, redis_url, prefix, s3_env):
    env = split_env(tmp_path, redis_url, prefix, CACHE_STORE=f"s3://cache/{prefix}")
    workers = Workers(tmp_path, env)
    src = source(env)
    seen_by_worker: dict = {}
    try:
        src.submit(split_job("together"))

        def ended():
            info = src.get("together")
            pieces = (info.progress or {}).get("pieces") if info else None
            if pieces:
                seen_by_worker.update(pieces.get("by_worker") or {})
            return info if info and info.state.value in ("finished", "failed") else None

        info = wait_for(ended, timeout=300, interval=0.1, what="the split job to end")
    finally:
        workers.stop()
    assert info.state.value == "finished", info.record
    record = info.record
    assert record["qc"]["passed"], record["qc"]
    split = report_of(tmp_path, "together")["split"]
    coordinator = record["worker"]
    assert split["coordinator"] == coordinator
    makers = {p["worker"] for p in split["pieces"]}
    names = {workers.by_pid(worker_pid(w)) for w in makers}
    assert names == {"a", "b"}, split          # pieces from both processes
    assert all(p["made"] and p["tries"] == 1 for p in split["pieces"])
    assert sum(split["workers"].values()) == len(split["pieces"]) == 11   # 6 bodies, 5 fades
    assert set(seen_by_worker) <= makers and seen_by_worker   # the job's progress named the makers
    assert sorted(split["narration"]) == [f"narration:{i}" for i in range(6)]   # spoken as tasks too
    assert {n["worker"] for n in split["narration"].values()} <= makers

    # the same job by one worker alone: the same pieces (keys and bytes), the same video
    coordinator_cache = tmp_path / workers.by_pid(worker_pid(coordinator)) / "cache"
    single, single_cache = _single_render(tmp_path, split_job("together"), coordinator_cache)
    assert single.report["cache_stats"]["by_kind"]["piece"]["misses"] == 11   # made here, not copied
    for piece in split["pieces"]:
        mine, theirs = cache_object(coordinator_cache, piece["key"]), cache_object(single_cache, piece["key"])
        assert mine is not None and theirs is not None, piece["piece"]
        assert sha256(mine) == sha256(theirs), piece["piece"]
    output = tmp_path / "var" / "output" / "together.mp4"
    assert frame_hashes(output) == frame_hashes(single.output)
    probe, alone = ffprobe(output), ffprobe(single.output)
    assert float(probe["format"]["duration"]) == pytest.approx(float(alone["format"]["duration"]), abs=1e-3)
    (video,) = streams(probe, "video")
    assert (video["width"], video["height"]) == (270, 480)
    assert int(video["nb_read_frames"]) == int(streams(alone, "video")[0]["nb_read_frames"])


def test_a_worker_killed_mid_piece_loses_only_that_piece(tmp_path, redis_url, prefix):
    env = split_env(tmp_path, redis_url, prefix, LEASE_SECONDS="2")   # the piece is taken over after 2 s
    workers = Workers(tmp_path, env, shared_cache=tmp_path / "cache")   # one machine, one CACHE_DIR
    src = source(env)
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    stream = f"{prefix}:pieces:normal"
    try:
        src.submit(split_job("survives", seconds=2.0))
        coordinator = wait_for(lambda: client.hget(f"{prefix}:job:survives", "worker"), timeout=120,
                               what="a worker to claim the job")

        def victim_holding():   # the other worker, while it holds a piece task (not a narration task)
            try:
                pending = client.xpending_range(stream, "workers", min="-", max="+", count=20)
            except redis.ResponseError:
                return None
            for held in pending:
                entry = client.xrange(stream, held["message_id"], held["message_id"])
                if held["consumer"] != coordinator and entry and \
                        not entry[0][1]["name"].startswith("narration"):
                    return held, entry[0][1]["name"]
            return None

        held = None
        while held is None:
            held = victim_holding()
            if src.get("survives").state.value != "started":
                pytest.fail("the job ended before the other worker took a piece")
            poll(0.01)
        held, killed_piece = held
        victim = workers.by_pid(worker_pid(held["consumer"]))
        workers.procs[victim].send_signal(signal.SIGKILL)
        info = wait_ended(src, "survives")
    finally:
        workers.stop()
    assert info.state.value == "finished", info.record
    assert info.record["attempts"] == 1 and info.record["worker"] == coordinator
    split = report_of(tmp_path, "survives")["split"]
    by_name = {p["piece"]: p for p in split["pieces"]}
    assert by_name[killed_piece]["worker"] == coordinator and by_name[killed_piece]["tries"] == 2
    assert all(p["tries"] <= 2 for p in split["pieces"])       # each piece made at most twice
    assert [p.name for p in (tmp_path / "var" / "output").glob("*.mp4")] == ["survives.mp4"]
    assert int(client.hget(f"{prefix}:stats", "finished")) == 1  # published once
    assert "took over piece" in (tmp_path / workers.by_pid(worker_pid(coordinator)) / "worker.log").read_text()


def test_a_piece_failing_for_good_fails_the_job_naming_it(tmp_path, redis_url, prefix):
    # two machines that share no cache level: the other one cannot read the piece's files
    env = split_env(tmp_path, redis_url, prefix)
    workers = Workers(tmp_path, env)
    src = source(env)
    try:
        src.submit(split_job("broken", scenes=4, seconds=1.0))
        info = wait_ended(src, "broken")
    finally:
        workers.stop()
    assert info.state.value == "failed"
    message = info.record["error"]["message"]
    named = re.search(r"piece ((?:body|transition):[\d-]+) \(scenes [\d, ]+\) failed on worker (\S+)", message)
    assert named, message
    assert "is in no cache level this worker reaches" in message and "CACHE_STORE" in message
    assert named.group(2) != info.record.get("worker") and worker_pid(named.group(2)) in \
        {p.pid for p in workers.procs.values()}
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    assert client.hget(f"{prefix}:split:broken", "state") == "closed"   # the others were stopped
    assert client.xlen(f"{prefix}:pieces:normal") == 0


def test_a_cancel_stops_the_split_jobs_pieces(tmp_path, redis_url, prefix):
    env = split_env(tmp_path, redis_url, prefix)
    workers = Workers(tmp_path, env, names=("a",))
    src = source(env)
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        src.submit(split_job("stopped", scenes=8))
        wait_for(lambda: any(k.startswith("done:") and "narration" not in k
                             for k in client.hkeys(f"{prefix}:split:stopped")),
                 timeout=120, interval=0.02, what="the first piece to be made")
        asked = time.monotonic()
        src.cancel("stopped")
        info = wait_ended(src, "stopped")
        took = time.monotonic() - asked
        wait_for(lambda: not client.xpending_range(f"{prefix}:pieces:normal", "workers", min="-", max="+", count=5),
                 timeout=30, what="no piece task held any more")
    finally:
        workers.stop()
    assert info.state.value == "cancelled" and took < 5, (info.state, took)
    assert client.hget(f"{prefix}:split:stopped", "state") == "closed"
    assert client.xlen(f"{prefix}:pieces:normal") == 0             # the untaken pieces were dropped
    made = [k for k in client.hkeys(f"{prefix}:split:stopped") if k.startswith("done:") and "narration" not in k]
    assert 1 <= len(made) < 15                                      # 8 bodies and 7 fades planned
    assert not list((tmp_path / "var" / "output").glob("stopped*"))   # nothing published


def _tasks(redis_url, prefix, name):
    settings = load_settings({"JOB_SOURCE": "redis", "REDIS_URL": redis_url, "REDIS_KEY_PREFIX": prefix,
                              "LEASE_SECONDS": "30"}, read_files=False)
    from protovideo.service.sources.redis_streams import RedisSource
    src = RedisSource(settings, worker_name=name)
    return src, RedisPieceTasks(src)


def test_pieces_rank_with_their_jobs_priority(redis_url, prefix):
    src, tasks = _tasks(redis_url, prefix, "w1")
    src.submit({"id": "low-whole", "scenes": [{"duration": 1}]}, priority="low")
    src.submit({"id": "critical-whole", "scenes": [{"duration": 1}]}, priority="critical")
    tasks.put("crit", "critical", [("k1", "body:0", {"x": 1})])
    tasks.put("norm", "normal", [("k2", "body:0", {"x": 2})])
    taken = [tasks.claim_beside(src) for _ in range(5)]
    order = [getattr(t, "job_id", None) or t.id for t in taken[:4]]
    assert order == ["crit", "critical-whole", "norm", "low-whole"]   # a piece before its level's jobs
    assert taken[4] is None
    assert json.loads(taken[0].fields["task"]) == {"x": 1} and taken[0].tries == 1


def test_closing_or_cancelling_a_job_stops_its_pieces(redis_url, prefix):
    src, tasks = _tasks(redis_url, prefix, "w1")
    _, other = _tasks(redis_url, prefix, "w2")
    tasks.put("gone", "normal", [("k1", "body:0", {}), ("k2", "body:1", {})])
    held = other.claim()
    tasks.close("gone")
    assert tasks.claim() is None                  # the untaken piece was dropped
    other.heartbeat(held)
    assert held.cancel.is_set()                   # its holder stops at its next heartbeat
    src.submit({"id": "cancel-me", "scenes": [{"duration": 1}]})
    job = src.claim()
    tasks.put("cancel-me", "normal", [("k3", "body:0", {})])
    piece = other.claim()
    other.heartbeat(piece)
    assert not piece.cancel.is_set()
    src.cancel(job.id)                            # a running job: cancel_requested
    other.heartbeat(piece)
    assert piece.cancel.is_set()


def test_small_jobs_and_the_spool_source_render_as_before(make_settings):
    from protovideo.pipeline.split import splits
    from protovideo.service.sources.spool import SpoolSource
    from protovideo.service.worker import Worker
    settings = make_settings(SPLIT_SCENES=3)
    worker = Worker(settings, SpoolSource(settings, worker_name="t"), middleware=[])
    assert worker.pieces is None and worker.runtime.pieces is None   # the spool carries no piece tasks
    ctx = make_context(worker.runtime)
    three = parse_job({"scenes": [{"duration": 1}] * 3})
    assert not splits(three, ctx)
    ctx.runtime.pieces = object()          # a source with piece tasks
    assert splits(three, ctx) and not splits(parse_job({"scenes": [{"duration": 1}] * 2}), ctx)
    off = make_context(make_settings(SPLIT_SCENES=0))
    off.runtime.pieces = object()
    assert not splits(three, off)


def test_a_coordinator_whose_own_job_stops_hands_another_jobs_piece_back(redis_url, prefix):
    import threading
    _, tasks = _tasks(redis_url, prefix, "w1")
    _, other = _tasks(redis_url, prefix, "w2")
    tasks.put("theirs", "normal", [("k1", "body:0", {})])
    own_job_cancelled = threading.Event()

    def make(key, message, cancel):   # stands for a piece's render: it stops when `cancel` says so
        threading.Timer(0.2, own_job_cancelled.set).start()
        while not cancel.is_set():
            time.sleep(0.01)
        raise InterruptedError("cancelled")

    assert tasks.work_one(make, stop=own_job_cancelled)
    again = other.claim()                      # queued again for another worker, not failed
    assert again is not None and again.name == "body:0" and again.tries == 2
    assert tasks.outcomes("theirs") == {}
