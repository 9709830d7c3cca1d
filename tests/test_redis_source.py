"""Redis Streams job source against a real Redis server (the `redis_url` fixture)."""
from __future__ import annotations

import collections
import signal
import uuid

import pytest
import redis

from daemon_helpers import (fake_make_context, fake_render, ledger, start_worker, stop, tiny_job,
                            wait_for, worker_env)
from lease_clock import age_pending
from protovideo.service.middleware.retries import Retries
from protovideo.runtime.settings import load_settings
from protovideo.service.sources.redis_streams import RedisSource
from protovideo.service.middleware.time_limit import TimeLimit
from protovideo.service.worker import Worker


@pytest.fixture
def prefix(redis_url):
    name = f"pvtest-{uuid.uuid4().hex[:10]}"
    yield name
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(f"{name}:*"))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture
def redis_settings(make_settings, redis_url, prefix):
    def factory(**overrides):
        values = {"JOB_SOURCE": "redis", "REDIS_URL": redis_url, "REDIS_KEY_PREFIX": prefix,
                  "POLL_INTERVAL": 0.05, "LEASE_SECONDS": 30, "RETRY_BACKOFF": 0.05}
        values.update(overrides)
        return make_settings(**values)
    return factory


def run_worker(settings, **kwargs):
    worker = Worker(settings, RedisSource(settings), render=fake_render,
                    make_context=fake_make_context, once=True,
                    middleware=[Retries(settings.MAX_ATTEMPTS, min_backoff=settings.RETRY_BACKOFF),
                                TimeLimit(settings.JOB_TIMEOUT)], **kwargs)
    assert worker.run(install_signals=False) == 0
    return worker


def test_jobs_run_highest_priority_first_and_are_acknowledged(redis_settings, tmp_path):
    settings = redis_settings()
    source = RedisSource(settings)
    for n, priority in enumerate(["low", "normal", "critical", "high"]):
        source.submit(tiny_job(f"r{n}-{priority}"), priority=priority)
    assert source.status()["queued"] == {"critical": 1, "high": 1, "normal": 1, "low": 1}
    run_worker(settings)
    assert [name.split("-")[1] for name in ledger(tmp_path)] == ["critical", "high", "normal", "low"]
    status = source.status()
    assert status["queued_total"] == 0 and status["started"] == 0 and status["finished"] == 4
    done = source.status("r2-critical")
    assert done["state"] == "finished" and done["record"]["status"] == "done"
    assert done["record"]["attempts"] == 1
    for priority in ("critical", "high", "normal", "low"):   # acknowledged and removed
        assert source.r.xlen(f"{settings.REDIS_KEY_PREFIX}:stream:{priority}") == 0
    assert source.is_drained()


def test_pending_entry_of_a_dead_consumer_is_taken_over_after_the_lease(redis_settings):
    settings = redis_settings(LEASE_SECONDS=30)
    RedisSource(settings).submit(tiny_job("orphan"))
    dead = RedisSource(settings, worker_name="dead-consumer")
    first = dead.claim()
    assert first.attempts == 1
    alive = RedisSource(settings, worker_name="alive-consumer")
    assert age_pending(alive, 29) == 1        # 29 s without a heartbeat
    assert alive.claim() is None              # still leased
    assert alive.status("orphan")["state"] == "started"
    age_pending(alive, 31)                    # longer than a lease: the consumer is gone
    again = alive.claim()
    assert again.id == "orphan" and again.attempts == 2
    with pytest.raises(Exception, match="lease"):
        dead.heartbeat(first)                 # the dead consumer's lease is gone
    alive.heartbeat(again)
    alive.complete(again, {"id": "orphan", "status": "done"})
    assert alive.status("orphan")["state"] == "finished"


def test_heartbeats_keep_the_lease(redis_settings):
    settings = redis_settings(LEASE_SECONDS=30)
    RedisSource(settings).submit(tiny_job("held"))
    holder = RedisSource(settings)
    job = holder.claim()
    other = RedisSource(settings)
    for step in range(5):
        age_pending(holder, 31)               # past the lease since the last heartbeat...
        job.progress = {"done": step, "total": 5, "what": "scene"}
        holder.heartbeat(job)                 # ...but it beats before anyone looks
        assert other.claim() is None
    assert other.status("held")["progress"] == {"done": 4, "total": 5, "what": "scene", "percent": 80.0}
    age_pending(holder, 31)                   # no heartbeat this time: the lease is gone
    assert other.claim().attempts == 2
    with pytest.raises(Exception, match="lease"):
        holder.heartbeat(job)


def test_transient_failures_retry_then_go_to_the_dead_letter_stream(redis_settings, tmp_path):
    settings = redis_settings(MAX_ATTEMPTS=3)
    source = RedisSource(settings)
    source.submit(tiny_job("transient-x"))
    source.submit(tiny_job("fine"))
    worker = run_worker(settings)
    assert worker.counts["retried"] == 2 and worker.counts["failed"] == 1
    failed = source.status("transient-x")
    assert failed["state"] == "failed"
    assert failed["record"]["attempts"] == 3
    assert failed["record"]["error"]["type"] == "TransientError"
    dead = source.r.xrange(f"{settings.REDIS_KEY_PREFIX}:dead")
    assert [fields["id"] for _id, fields in dead] == ["transient-x"]
    assert source.status()["dead_letter"] == 1
    assert source.status("fine")["state"] == "finished"


def test_invalid_job_is_failed_at_once(redis_settings):
    settings = redis_settings()
    source = RedisSource(settings)
    bad = tiny_job("bad")
    bad["scenes"][0]["motion"] = "spin"
    source.submit(bad)
    run_worker(settings)
    record = source.status("bad")["record"]
    assert record["attempts"] == 1 and record["error"]["field"] == "scenes[0].motion"


def test_workers_dying_repeatedly_dead_letter_the_job(redis_settings):
    settings = redis_settings(LEASE_SECONDS=30, MAX_ATTEMPTS=2)
    RedisSource(settings).submit(tiny_job("cursed"))
    for attempt in (1, 2):
        dying = RedisSource(settings)
        assert dying.claim().attempts == attempt
        age_pending(dying, 31)                # it died: no heartbeat for longer than a lease
    source = RedisSource(settings)
    assert source.claim() is None
    record = source.status("cursed")["record"]
    assert record["error"]["type"] == "LeaseExpired" and record["attempts"] == 2
    assert source.is_drained()


def test_release_puts_the_job_back_uncounted(redis_settings):
    settings = redis_settings()
    source = RedisSource(settings)
    source.submit(tiny_job("back"), priority="high")
    job = source.claim()
    source.release(job)
    assert source.status("back")["state"] == "queued"
    assert source.status()["queued"]["high"] == 1
    again = source.claim()
    assert again.id == "back" and again.attempts == 1


def test_two_consumers_one_killed_finish_every_job_once(redis_url, prefix, tmp_path):
    env = worker_env(tmp_path, JOB_SOURCE="redis", REDIS_URL=redis_url, REDIS_KEY_PREFIX=prefix,
                     LEASE_SECONDS="4", FAKE_SCENE_SECONDS="0.5")   # heartbeats every 1.3 s: slack for a loaded machine
    source = RedisSource(load_settings(env, read_files=False), worker_name="test")
    ids = [f"rj{n:02d}" for n in range(10)]
    for job_id in ids:
        source.submit(tiny_job(job_id, scenes=2))
    victim = start_worker(tmp_path, env, name="victim")
    survivor = start_worker(tmp_path, env, name="survivor")
    try:
        def victim_busy():
            for job_id in ids:
                status = source.status(job_id)
                if status["state"] == "started" and f"-{victim.pid}-" in status.get("worker", ""):
                    return job_id
            return None
        taken = wait_for(victim_busy, what="the first consumer to take a job")
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=30)
        wait_for(lambda: all(source.status(i)["state"] == "finished" for i in ids), timeout=120,
                 what="every job to finish")
    finally:
        if victim.poll() is None:
            victim.kill()
        assert stop(survivor) == 0
    rendered = collections.Counter(ledger(tmp_path))
    assert rendered == {job_id: 1 for job_id in ids}       # each output published once
    assert source.status(taken)["record"]["attempts"] == 2  # the killed one was taken over
    status = source.status()
    assert status["finished"] == 10 and status["started"] == 0 and status["queued_total"] == 0
