"""The job store side of the sources (spool and a real Redis): idempotent submit, get,
list with filters and a cursor, cancel of queued and running jobs."""
from __future__ import annotations

import threading
import time
import uuid

import pytest
import redis

from daemon_helpers import fake_make_context, fake_render, ledger, tiny_job, wait_for
from lease_clock import ManualClock, age_pending
from jobmodel.states import JobState
from protovideo.service.middleware.retries import Retries
from protovideo.service.middleware.time_limit import TimeLimit
from protovideo.service.sources import (BadCursor, JobNotCancellable, JobNotFound, open_source)
from protovideo.service.worker import Worker


@pytest.fixture(params=["spool", "redis"])
def store_settings(request, make_settings):
    values = {"JOB_SOURCE": request.param, "POLL_INTERVAL": 0.05, "LEASE_SECONDS": 30,
              "RETRY_BACKOFF": 0.05}
    prefix = None
    if request.param == "redis":
        url = request.getfixturevalue("redis_url")
        prefix = f"pvstore-{uuid.uuid4().hex[:10]}"
        values.update(REDIS_URL=url, REDIS_KEY_PREFIX=prefix)

    def factory(**overrides):
        return make_settings(**{**values, **overrides})
    yield factory
    if prefix:
        client = redis.Redis.from_url(values["REDIS_URL"])
        keys = list(client.scan_iter(f"{prefix}:*"))
        if keys:
            client.delete(*keys)
        client.close()


def worker_for(settings, once=True):
    return Worker(settings, open_source(settings), render=fake_render, make_context=fake_make_context,
                  middleware=[Retries(settings.MAX_ATTEMPTS, min_backoff=settings.RETRY_BACKOFF),
                              TimeLimit(settings.JOB_TIMEOUT)], once=once)


def test_submitting_a_queued_id_twice_queues_one_job(store_settings, tmp_path):
    settings = store_settings()
    source = open_source(settings)
    first = source.submit(tiny_job("twice"))
    second = source.submit(tiny_job("twice"))
    assert (first.id, first.created, first.state) == ("twice", True, JobState.QUEUED)
    assert (second.id, second.created, second.state) == ("twice", False, JobState.QUEUED)
    assert source.status()["queued_total"] == 1
    worker_for(settings).run(install_signals=False)
    assert ledger(tmp_path) == ["twice"]
    # an id that has ended is a new run when submitted again
    again = source.submit(tiny_job("twice"))
    assert again.created and again.state == JobState.QUEUED
    worker_for(settings).run(install_signals=False)
    assert ledger(tmp_path) == ["twice", "twice"]
    assert source.get("twice").state == JobState.FINISHED


def test_a_repeated_idempotency_key_returns_the_first_job(store_settings):
    source = open_source(store_settings())
    job = tiny_job("x")
    del job["id"]
    first = source.submit(job, idempotency_key="order-17")
    second = source.submit(job, idempotency_key="order-17")
    other = source.submit(job, idempotency_key="order-18")
    assert first.created and not second.created and other.created
    assert second.id == first.id != other.id
    assert source.status()["queued_total"] == 2


def test_get_reports_state_priority_and_job(store_settings):
    source = open_source(store_settings())
    source.submit(tiny_job("seen"), priority="high")
    info = source.get("seen")
    assert info.state == JobState.QUEUED and info.priority == "high" and info.attempts == 0
    assert info.job["id"] == "seen" and info.submitted_at
    assert info.progress == {"done": 0, "total": 0, "what": "", "percent": 0.0}
    assert source.get("never-submitted") is None


def test_list_is_newest_first_with_filters_and_a_cursor(store_settings):
    settings = store_settings()
    source = open_source(settings)
    ids = [f"j{n:02d}" for n in range(7)]
    for n, job_id in enumerate(ids):
        source.submit(tiny_job(job_id), priority="low" if n % 2 else "normal")
    worker = Worker(settings, open_source(settings), render=fake_render,
                    make_context=fake_make_context, middleware=[], once=True)
    claimed = worker.source.claim()            # the oldest normal one runs
    worker.process(claimed)
    source.cancel("j06")
    jobs, cursor = source.list_jobs(limit=3)
    seen = [j.id for j in jobs]
    while cursor:
        jobs, cursor = source.list_jobs(limit=3, cursor=cursor)
        seen += [j.id for j in jobs]
    assert seen == list(reversed(ids))
    assert [j.id for j in source.list_jobs(priority="low")[0]] == ["j05", "j03", "j01"]
    assert [j.id for j in source.list_jobs(state="finished")[0]] == [claimed.id]
    assert [j.id for j in source.list_jobs(state=JobState.CANCELLED)[0]] == ["j06"]
    queued, _ = source.list_jobs(state="queued", priority="normal")
    assert [j.id for j in queued] == ["j04", "j02"]
    assert all(j.job is None for j in queued)
    with pytest.raises(BadCursor):
        source.list_jobs(cursor="not-a-cursor")
    with pytest.raises(ValueError, match="state"):
        source.list_jobs(state="sleeping")


def test_cancel_a_queued_job(store_settings, tmp_path):
    settings = store_settings()
    source = open_source(settings)
    source.submit(tiny_job("unwanted"))
    source.submit(tiny_job("wanted"))
    finals = []
    source.add_final_listener(lambda event, record: finals.append((event, record["id"])))
    info = source.cancel("unwanted")
    assert info.state == JobState.CANCELLED
    assert info.record["status"] == "cancelled" and info.record["was"] == "queued"
    assert finals == [("job.cancelled", "unwanted")]
    worker = worker_for(settings)
    worker.run(install_signals=False)
    assert ledger(tmp_path) == ["wanted"]          # the cancelled one never ran
    assert source.get("unwanted").state == JobState.CANCELLED
    with pytest.raises(JobNotCancellable) as err:
        source.cancel("unwanted")
    assert err.value.state == JobState.CANCELLED
    with pytest.raises(JobNotCancellable):
        source.cancel("wanted")                    # finished
    with pytest.raises(JobNotFound):
        source.cancel("nobody")


def test_cancel_a_running_job_stops_it_without_output(store_settings, tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_SCENE_SECONDS", "1")
    settings = store_settings()
    source = open_source(settings)
    source.submit(tiny_job("long", scenes=60), priority="critical")
    source.submit(tiny_job("next"))
    worker = worker_for(settings, once=True)
    thread = threading.Thread(target=worker.run, kwargs={"install_signals": False})
    thread.start()
    try:
        wait_for(lambda: (source.get("long").progress["done"] or 0) >= 1, timeout=60,
                 what="the long job to start")
        info = source.cancel("long")
        assert info.state == JobState.STARTED and info.cancel_requested
        wait_for(lambda: source.get("long").state == JobState.CANCELLED, timeout=30,
                 what="the worker to stop the cancelled job")
        thread.join(60)
    finally:
        worker.request_stop()
        thread.join(60)
    record = source.get("long").record
    assert record["status"] == "cancelled" and record["was"] == "started"
    assert not (settings.path("OUTPUT_DIR") / "long.mp4").exists()
    assert ledger(tmp_path) == ["next"]           # the worker went on to the next job
    assert worker.counts["cancelled"] == 1 and worker.counts["failed"] == 0


def test_concurrent_submits_of_one_id_queue_it_once(store_settings):
    settings = store_settings()
    results = []
    barrier = threading.Barrier(6)

    def submit():
        source = open_source(settings)
        barrier.wait()
        results.append(source.submit(tiny_job("racy")))

    threads = [threading.Thread(target=submit) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r.created for r in results) == [False] * 5 + [True]
    assert open_source(settings).status()["queued_total"] == 1


def test_cancel_a_job_waiting_for_its_retry(store_settings, tmp_path):
    settings = store_settings()
    source = open_source(settings)
    source.submit(tiny_job("flaky"))
    claimed = source.claim()
    source.fail(claimed, {"type": "TransientError", "message": "503"}, retry_in=0.2)
    assert source.get("flaky").state == JobState.QUEUED
    assert source.cancel("flaky").state == JobState.CANCELLED
    wait_for(lambda: source.is_drained(), timeout=10, what="the retry to be dropped")
    worker_for(settings).run(install_signals=False)
    assert ledger(tmp_path) == []
    assert source.get("flaky").state == JobState.CANCELLED


def test_a_cancel_requested_before_the_worker_died_is_honoured(store_settings):
    settings, clock = store_settings(LEASE_SECONDS=30), ManualClock()
    source = open_source(settings, clock=clock)
    source.submit(tiny_job("orphan"))
    dying = open_source(settings, clock=clock).claim()  # its worker will die: no heartbeat
    assert dying.id == "orphan"
    assert source.cancel("orphan").cancel_requested
    clock.advance(31)                                   # the lease runs out: the spool's clock...
    if settings.JOB_SOURCE == "redis":
        age_pending(source, 31)                         # ...and the Redis server's idle time
    assert open_source(settings, clock=clock).claim() is None   # not run again
    info = source.get("orphan")
    assert info.state == JobState.CANCELLED and info.record["was"] == "started"


def test_a_failure_or_hand_back_after_a_cancel_request_ends_cancelled(store_settings):
    settings = store_settings()
    source = open_source(settings)
    worker_side = open_source(settings)
    for job_id in ("retrying", "handed-back"):
        source.submit(tiny_job(job_id))
    first, second = worker_side.claim(), worker_side.claim()
    source.cancel(first.id)
    source.cancel(second.id)
    worker_side.fail(first, {"type": "TransientError", "message": "503"}, retry_in=0)
    worker_side.release(second)
    for job_id in ("retrying", "handed-back"):
        assert source.get(job_id).state == JobState.CANCELLED
    assert worker_side.claim() is None and source.is_drained()


def test_spool_listing_sees_a_job_submitted_right_after_the_last_listing(make_settings):
    """The spool index reuses its scan only while no folder changed; a change seen at once."""
    from protovideo.service.sources.spool import SpoolSource
    source = SpoolSource(make_settings())
    time.sleep(0.1)
    source.submit({"id": "first", "scenes": [{"duration": 1}]})
    assert [job.id for job in source.list_jobs()[0]] == ["first"]
    time.sleep(0.1)   # settled: the next listing may reuse the scan
    assert [job.id for job in source.list_jobs()[0]] == ["first"]
    source.submit({"id": "second", "scenes": [{"duration": 1}]})
    assert [job.id for job in source.list_jobs()[0]] == ["second", "first"]
    assert source.get("second").state.value == "queued"
    source.cancel("first")
    assert source.get("first").state.value == "cancelled"
    assert {job.id for job in source.list_jobs(state="cancelled")[0]} == {"first"}
