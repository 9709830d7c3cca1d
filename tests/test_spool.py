"""Spool source and worker loop in one process, with the fast fake render."""
from __future__ import annotations

import json
import os
import threading
import time

import pytest

from daemon_helpers import fake_make_context, fake_render, ledger, read_json, tiny_job, wait_for
from lease_clock import ManualClock
from protovideo.service.middleware.retries import Retries
from protovideo.service.sources.spool import SpoolSource
from protovideo.service.middleware.time_limit import TimeLimit
from protovideo.service.worker import Worker


@pytest.fixture
def spool_settings(make_settings):
    def factory(**overrides):
        values = {"POLL_INTERVAL": 0.05, "LEASE_SECONDS": 30, "RETRY_BACKOFF": 0.05}
        values.update(overrides)
        return make_settings(**values)
    return factory


def make_worker(settings, source=None, **kwargs):
    source = source or SpoolSource(settings)
    middleware = kwargs.pop("middleware", None)
    if middleware is None:
        middleware = [Retries(settings.MAX_ATTEMPTS, min_backoff=settings.RETRY_BACKOFF),
                      TimeLimit(settings.JOB_TIMEOUT)]
    return Worker(settings, source, render=kwargs.pop("render", fake_render),
                  make_context=fake_make_context, middleware=middleware, once=True, **kwargs)


def test_submitted_job_is_done_with_a_result_record(spool_settings, tmp_path):
    settings = spool_settings()
    source = SpoolSource(settings)
    submitted = source.submit(tiny_job("first", scenes=2), base_dir=tmp_path)
    assert submitted.id == "first" and submitted.created and submitted.state == "queued"
    assert source.status("first")["state"] == "queued"
    assert make_worker(settings).run(install_signals=False) == 0
    record = read_json(settings.path("SPOOL_DIR") / "done" / "first.json")
    assert record["id"] == "first" and record["status"] == "done"
    assert record["attempts"] == 1
    assert set(record) >= {"id", "status", "output", "duration_s", "report", "attempts", "worker",
                           "started_at", "finished_at"}
    assert (settings.path("OUTPUT_DIR") / "first.mp4").exists()
    status = source.status("first")
    assert status["state"] == "finished" and status["record"]["output"] == record["output"]
    assert not list((settings.path("SPOOL_DIR") / "processing").iterdir())
    assert not list((settings.path("SPOOL_DIR") / "incoming").iterdir())


def test_a_higher_priority_is_always_taken_first(spool_settings, tmp_path):
    settings = spool_settings()
    source = SpoolSource(settings)
    order = ["low", "normal", "critical", "high", "low", "critical"]
    for n, priority in enumerate(order):
        source.submit(tiny_job(f"job{n}-{priority}"), priority=priority)
    make_worker(settings).run(install_signals=False)
    ran = [name.split("-")[1] for name in ledger(tmp_path)]
    assert ran == ["critical", "critical", "high", "normal", "low", "low"]
    # within one priority, first in first out
    assert [n for n in ledger(tmp_path) if n.endswith("-critical")] == ["job2-critical", "job5-critical"]


def test_priority_of_a_file_dropped_in_by_another_program(spool_settings):
    settings = spool_settings()
    incoming = settings.path("SPOOL_DIR") / "incoming"
    SpoolSource(settings).submit(tiny_job("queued-normal"))
    (incoming / "from-elsewhere.json").write_text(json.dumps(tiny_job("urgent", priority="critical")))
    first = SpoolSource(settings).claim()
    assert first.id == "urgent" and first.priority == "critical"


def test_status_while_a_worker_claims_the_job_between_two_reads(spool_settings, monkeypatch):
    """The job leaves incoming/ after status listed it: status looks again and says started."""
    from protovideo.service.sources import spool as spool_module
    settings = spool_settings()
    source = SpoolSource(settings)
    source.submit(tiny_job("moving"))
    listed = spool_module._job_json_files
    claimed = []

    def list_then_claim(folder):
        entries = listed(folder)
        if folder == source.dirs["incoming"] and not claimed:
            claimed.append(None)
            claimed[0] = SpoolSource(settings).claim()   # a worker takes it right after the listing
        return entries

    monkeypatch.setattr(spool_module, "_job_json_files", list_then_claim)
    assert source.status("moving")["state"] == "started"
    assert claimed and claimed[0] is not None


def test_status_shows_progress_while_started(spool_settings):
    settings = spool_settings()
    source = SpoolSource(settings)
    source.submit(tiny_job("slow", scenes=3))
    seen = []

    def published(status, done):
        return status if (status["progress"]["done"], status["progress"]["total"]) == (done, 3) else None

    def render(job, ctx, output_path=None):
        for done in range(3):
            ctx.progress(done, 3, f"scene {done}")   # wakes the heartbeat, which publishes it
            seen.append(wait_for(lambda: published(SpoolSource(settings).status("slow"), done),
                                 timeout=60, what=f"progress {done}/3 published"))
        return fake_render(job, ctx)

    make_worker(settings, render=render).run(install_signals=False)
    assert [s["state"] for s in seen] == ["started"] * 3
    assert [(s["progress"]["done"], s["progress"]["total"]) for s in seen] == [(0, 3), (1, 3), (2, 3)]
    assert source.status("slow")["state"] == "finished"


def test_two_sources_claim_each_job_exactly_once(spool_settings):
    settings = spool_settings()
    for n in range(40):
        SpoolSource(settings).submit(tiny_job(f"j{n}"))
    claimed: list[str] = []
    lock = threading.Lock()

    def drain():
        source = SpoolSource(settings)
        while (job := source.claim()) is not None:
            with lock:
                claimed.append(job.id)
            source.complete(job, {"id": job.id, "status": "done"})

    threads = [threading.Thread(target=drain) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(claimed) == sorted(f"j{n}" for n in range(40))


def test_expired_lease_is_claimed_again_with_attempts_raised(spool_settings):
    settings, clock = spool_settings(LEASE_SECONDS=30), ManualClock()
    SpoolSource(settings).submit(tiny_job("orphan"))
    dead = SpoolSource(settings, worker_name="dead", clock=clock).claim()
    assert dead.attempts == 1
    other = SpoolSource(settings, worker_name="alive", clock=clock)
    clock.advance(29)
    assert other.claim() is None          # the lease still holds
    assert other.status("orphan")["state"] == "started"
    clock.advance(2)                      # 31 s without a heartbeat: the worker is gone
    again = other.claim()
    assert again.id == "orphan" and again.attempts == 2
    assert other.status("orphan")["attempts"] == 2


def test_half_written_files_of_a_killed_worker_are_swept_after_a_lease(spool_settings):
    # a worker killed inside write_json_atomic leaves `.<name>.tmp-<hex>` in processing/
    settings = spool_settings(LEASE_SECONDS=30)
    source = SpoolSource(settings)
    processing = settings.path("SPOOL_DIR") / "processing"
    processing.mkdir(parents=True, exist_ok=True)
    stale = processing / ".0-1-gone~abc.state.tmp-1234abcd"
    fresh = processing / ".0-2-busy~def.state.tmp-5678abcd"
    for path in (stale, fresh):
        path.write_text('{"id": ')
    old = time.time() - 60
    os.utime(stale, (old, old))
    source.reclaim_expired()
    assert not stale.exists()             # older than a lease: its writer is gone
    assert fresh.exists()                 # may still be being written


def test_heartbeats_keep_the_lease(spool_settings):
    settings, clock = spool_settings(LEASE_SECONDS=30), ManualClock()
    SpoolSource(settings).submit(tiny_job("held"))
    holder = SpoolSource(settings, clock=clock)
    job = holder.claim()
    other = SpoolSource(settings, clock=clock)
    for _ in range(6):                    # 6 x 20 s = four leases, each gap shorter than one
        clock.advance(20)
        holder.heartbeat(job)
        assert other.claim() is None
    clock.advance(31)                     # no heartbeat for longer than a lease: it is taken
    assert other.claim().attempts == 2
    with pytest.raises(Exception, match="lease"):
        holder.heartbeat(job)


def test_a_job_whose_workers_keep_dying_fails_after_max_attempts(spool_settings):
    settings, clock = spool_settings(LEASE_SECONDS=30, MAX_ATTEMPTS=2), ManualClock()
    SpoolSource(settings).submit(tiny_job("cursed"))
    for attempt in (1, 2):
        assert SpoolSource(settings, clock=clock).claim().attempts == attempt
        clock.advance(31)   # the worker "dies": no heartbeat, no outcome, for longer than a lease
    assert SpoolSource(settings, clock=clock).claim() is None
    record = read_json(settings.path("SPOOL_DIR") / "failed" / "cursed.json")
    assert record["status"] == "failed" and record["attempts"] == 2
    assert record["error"]["type"] == "LeaseExpired"
    assert record["job"]["id"] == "cursed" and "_spool" not in record["job"]


def test_transient_failure_is_retried_then_recorded_after_max_attempts(spool_settings, tmp_path):
    settings = spool_settings(MAX_ATTEMPTS=3)
    source = SpoolSource(settings)
    source.submit(tiny_job("transient-api"))
    worker = make_worker(settings)
    worker.run(install_signals=False)
    record = read_json(settings.path("SPOOL_DIR") / "failed" / "transient-api.json")
    spec_fields = {k: record[k] for k in ("id", "status", "attempts", "error", "job")}
    assert spec_fields == {"id": "transient-api", "status": "failed", "attempts": 3,
                           "error": {"type": "TransientError", "message": "the image API answered 503"},
                           "job": tiny_job("transient-api")}
    assert record["priority"] == "normal" and record["submitted_at"].endswith("+00:00")
    assert worker.counts == {"done": 0, "failed": 1, "retried": 2, "released": 0, "cancelled": 0}


def test_backoff_grows_exponentially_with_jitter():
    retries = Retries(5, min_backoff=2, max_backoff=60, jitter=0.5)
    for attempts, base in ((1, 2), (2, 4), (3, 8), (4, 16), (10, 60)):
        delays = {round(retries.backoff(attempts), 6) for _ in range(20)}
        assert all(base * 0.5 <= d <= base for d in delays)
        assert len(delays) > 1   # jittered


def test_a_retry_waits_for_its_backoff(spool_settings):
    settings = spool_settings(MAX_ATTEMPTS=3)
    source = SpoolSource(settings)
    source.submit(tiny_job("transient-later"))
    job = source.claim()
    source.fail(job, {"type": "TransientError", "message": "503"}, retry_in=60)
    assert source.claim() is None          # not before its time
    assert source.status("transient-later")["retry_pending"] is True
    assert source.status()["retry_pending"] == 1
    assert not source.is_drained()


def test_invalid_job_fails_at_once_naming_the_field(spool_settings, tmp_path):
    settings = spool_settings()
    bad = tiny_job("bad")
    del bad["scenes"][0]["duration"]
    source = SpoolSource(settings)
    source.submit(bad)
    (settings.path("SPOOL_DIR") / "incoming" / "garbage.json").write_text("{not json")
    make_worker(settings).run(install_signals=False)
    record = read_json(settings.path("SPOOL_DIR") / "failed" / "bad.json")
    assert record["attempts"] == 1
    assert record["error"]["type"] == "JobInvalid"
    assert record["error"]["field"] == "scenes[0].duration"
    garbage = read_json(settings.path("SPOOL_DIR") / "failed" / "garbage.json")
    assert garbage["error"]["field"] == "$" and garbage["job"] == "{not json"
    assert ledger(tmp_path) == []


def test_one_failure_does_not_stop_the_others(spool_settings, tmp_path):
    settings = spool_settings()
    source = SpoolSource(settings)
    for job_id in ("a1", "boom-2", "a3", "a4"):
        source.submit(tiny_job(job_id))
    make_worker(settings).run(install_signals=False)
    done = sorted(p.stem for p in (settings.path("SPOOL_DIR") / "done").iterdir())
    assert done == ["a1", "a3", "a4"]
    record = read_json(settings.path("SPOOL_DIR") / "failed" / "boom-2.json")
    assert record["error"] == {"type": "JobFailed", "message": "scene 0 asset is broken", "scene": 0}
    assert record["attempts"] == 1     # not a transient error: no retry


def test_job_timeout_cancels_and_fails_the_job(spool_settings, tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_SCENE_SECONDS", "5")
    settings = spool_settings(JOB_TIMEOUT=0.3)
    SpoolSource(settings).submit(tiny_job("sloth", scenes=4))
    make_worker(settings).run(install_signals=False)
    record = read_json(settings.path("SPOOL_DIR") / "failed" / "sloth.json")
    assert record["error"]["type"] == "JobTimeout"
    assert "JOB_TIMEOUT" in record["error"]["message"]
    assert record["attempts"] == 1


def test_release_hands_a_job_back_without_counting_the_attempt(spool_settings):
    settings = spool_settings()
    source = SpoolSource(settings)
    source.submit(tiny_job("back"))
    job = source.claim()
    source.release(job)
    assert source.status("back")["state"] == "queued"
    again = source.claim()
    assert again.id == "back" and again.attempts == 1


def test_a_dropped_file_without_id_is_named_after_its_file(spool_settings, tmp_path):
    settings = spool_settings()
    job = tiny_job("x")
    del job["id"]
    incoming = settings.path("SPOOL_DIR") / "incoming"
    incoming.mkdir(parents=True, exist_ok=True)
    (incoming / "hand made.json").write_text(json.dumps(job))
    make_worker(settings).run(install_signals=False)
    assert (settings.path("SPOOL_DIR") / "done" / "hand_made.json").exists()
    assert ledger(tmp_path) == ["hand_made"]


def test_records_are_written_atomically(spool_settings):
    settings = spool_settings()
    source = SpoolSource(settings)
    source.submit(tiny_job("atomic"))
    make_worker(settings).run(install_signals=False)
    leftovers = [p for d in ("incoming", "processing", "done", "failed")
                 for p in (settings.path("SPOOL_DIR") / d).iterdir() if p.name.startswith(".")]
    assert leftovers == []
    assert os.listdir(settings.path("SPOOL_DIR") / "done") == ["atomic.json"]
