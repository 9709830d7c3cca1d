"""The worker loop with MAX_JOBS > 1 (a render held by explicit events, or the fake render in
worker processes): a free slot takes the highest-priority job queued then, memory over the
critical line stops new claims while a job runs, hooks run per job, each webhook once, `run
--once` drains and exits with the right code, SIGTERM drains every running job, systemd hears
READY and the watchdog."""
from __future__ import annotations

import json
import os
import signal
import socket
import tempfile
import threading

from daemon_helpers import (fake_make_context, fake_render, ledger, read_json, start_worker,
                            tiny_job, wait_for, worker_env)
from protovideo.pipeline.memory_watch import MemoryConfig, MemoryWatch
from protovideo.pipeline.runtime import Runtime
from protovideo.runtime.settings import load_settings
from protovideo.service.middleware import Middleware, default_middleware
from protovideo.service.sources.spool import SpoolSource
from protovideo.service.worker import Worker
from webhook_receiver import Receiver
from test_redis_source import prefix, redis_settings  # noqa: F401  (fixtures)

WAIT = 120   # seconds: only bounds a hang


class HeldRenders:
    """A render that notes each job as it starts and ends only when the test lets it go."""

    def __init__(self):
        self.started: list[str] = []
        self.go: dict[str, threading.Event] = {}
        self.lock = threading.Lock()

    def release(self, job_id: str) -> None:
        self._event(job_id).set()

    def _event(self, job_id: str) -> threading.Event:
        with self.lock:
            return self.go.setdefault(job_id, threading.Event())

    def __call__(self, job, ctx, output_path=None):
        with self.lock:
            self.started.append(job.id)
        assert self._event(job.id).wait(WAIT), f"{job.id} was never let go"
        return fake_render(job, ctx, output_path)


def _worker(settings, renders, memory=None, middleware_extra=()):
    runtime = Runtime.create(settings, render=renders, make_context=fake_make_context,
                             **({"memory": memory} if memory else {}))
    source = SpoolSource(settings, worker_name="loop")
    worker = Worker(runtime, source, middleware=default_middleware(runtime) + list(middleware_extra),
                    max_jobs=2, name="loop")
    thread = threading.Thread(target=worker.run, kwargs={"install_signals": False}, daemon=True)
    return source, worker, thread


def _stop(worker, thread, renders):
    for job_id in list(renders.go) + renders.started:
        renders.release(job_id)
    worker.request_stop()
    thread.join(WAIT)
    assert not thread.is_alive()


def test_a_free_slot_takes_the_highest_priority_job_queued_then(make_settings):
    settings = make_settings(MAX_JOBS=2, POLL_INTERVAL=0.05)
    renders = HeldRenders()
    source, worker, thread = _worker(settings, renders)
    source.submit(tiny_job("first"))
    source.submit(tiny_job("second"))
    thread.start()
    try:
        wait_for(lambda: len(renders.started) == 2, timeout=WAIT, what="two jobs at once")
        source.submit(tiny_job("low-early"), priority="low")      # queued first
        source.submit(tiny_job("urgent-late"), priority="critical")
        assert source.get("low-early").state.value == "queued"    # both slots are taken
        renders.release("first")
        wait_for(lambda: len(renders.started) == 3, timeout=WAIT, what="the freed slot")
        assert renders.started[2] == "urgent-late"
        assert source.get("low-early").state.value == "queued"
        renders.release("second")
        wait_for(lambda: len(renders.started) == 4, timeout=WAIT, what="the last job")
    finally:
        _stop(worker, thread, renders)
    # the first two start side by side (either may be first to begin); then by priority
    assert set(renders.started[:2]) == {"first", "second"}
    assert renders.started[2:] == ["urgent-late", "low-early"]
    assert worker.counts["done"] == 4


class ClaimChecks(Middleware):
    def __init__(self):
        self.checks = 0

    def can_claim(self, worker):
        self.checks += 1
        return True


def test_memory_over_the_critical_line_stops_new_claims_while_a_job_runs(make_settings):
    settings = make_settings(MAX_JOBS=2, POLL_INTERVAL=0.05, MEMORY_WARNING_THRESHOLD=100,
                             MEMORY_CRITICAL_THRESHOLD=200)
    rss = {"mb": 50.0}
    watch = MemoryWatch(MemoryConfig.from_settings(settings), rss_fn=lambda: rss["mb"])
    renders, checks = HeldRenders(), ClaimChecks()
    source, worker, thread = _worker(settings, renders, memory=watch, middleware_extra=[checks])
    source.submit(tiny_job("running"))
    thread.start()
    try:
        wait_for(lambda: renders.started == ["running"], timeout=WAIT, what="the first job")
        rss["mb"] = 250.0                       # the running job takes memory over the line
        source.submit(tiny_job("waiting"))
        seen = checks.checks
        wait_for(lambda: checks.checks >= seen + 10, timeout=WAIT, what="claim checks")
        assert watch.paused and watch.parallelism(4) == 1   # and its scenes run fewer at once
        assert source.get("waiting").state.value == "queued"
        rss["mb"] = 50.0                        # back under the warning line
        wait_for(lambda: renders.started == ["running", "waiting"], timeout=WAIT,
                 what="the second job, beside the first")
        assert watch.parallelism(4) == 4
    finally:
        _stop(worker, thread, renders)
    assert worker.counts["done"] == 2


def test_each_job_of_several_at_once_gets_its_own_webhook_once(tmp_path):
    with Receiver() as rx:
        env = worker_env(tmp_path, ALLOW_PRIVATE_URLS="true", MAX_JOBS="2",
                         FAKE_SCENE_SECONDS="0.3", WEBHOOK_RETRY_BACKOFF="0.2")
        source = SpoolSource(load_settings(env, read_files=False), worker_name="test")
        ids = [f"hook{n}" for n in range(4)]
        for job_id in ids:
            source.submit(tiny_job(job_id, scenes=2, callback_url=rx.url))
        proc = start_worker(tmp_path, env, "--once")
        assert proc.wait(timeout=WAIT) == 0, (tmp_path / "worker.out").read_text()[-3000:]
        bodies = [json.loads(r["body"]) for r in rx.wait(4)]
        assert rx.count() == 4      # the worker flushed its deliveries before it exited
    assert sorted(b["id"] for b in bodies) == ids and {b["status"] for b in bodies} == {"done"}
    assert len(list((tmp_path / "var/spool/webhooks/delivered").glob("*.json"))) == 4


def test_run_once_with_two_jobs_at_once_drains_the_queue_and_exits_1_on_a_failure(tmp_path):
    env = worker_env(tmp_path, MAX_JOBS="2", FAKE_SCENE_SECONDS="0.2")
    source = SpoolSource(load_settings(env, read_files=False), worker_name="test")
    for job_id in ("a", "boom-b", "c", "d"):
        source.submit(tiny_job(job_id, scenes=2))
    proc = start_worker(tmp_path, env, "--once")
    assert proc.wait(timeout=WAIT) == 1
    assert sorted(ledger(tmp_path)) == ["a", "c", "d"]
    assert read_json(tmp_path / "var/spool/failed/boom-b.json")["status"] == "failed"
    assert source.is_drained()
    log = (tmp_path / "worker.log").read_text()
    assert "2 jobs at once" in log


def test_run_once_with_two_jobs_at_once_exits_0_when_all_are_done(tmp_path):
    env = worker_env(tmp_path, MAX_JOBS="2")
    source = SpoolSource(load_settings(env, read_files=False), worker_name="test")
    for n in range(5):
        source.submit(tiny_job(f"job{n}"))
    assert start_worker(tmp_path, env, "--once").wait(timeout=WAIT) == 0
    assert sorted(ledger(tmp_path)) == [f"job{n}" for n in range(5)]


def _both_started(source, ids) -> bool:
    return all(source.status(j)["state"] == "started" for j in ids)


def test_sigterm_lets_every_running_job_finish_within_the_grace(tmp_path):
    env = worker_env(tmp_path, MAX_JOBS="2", FAKE_SCENE_SECONDS="0.5", SHUTDOWN_GRACE="60")
    source = SpoolSource(load_settings(env, read_files=False), worker_name="test")
    for job_id in ("one", "two"):
        source.submit(tiny_job(job_id, scenes=4))
    source.submit(tiny_job("not-taken"), priority="low")
    proc = start_worker(tmp_path, env)
    wait_for(lambda: _both_started(source, ("one", "two")), timeout=WAIT, what="both jobs")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=WAIT) == 0
    assert sorted(ledger(tmp_path)) == ["one", "two"]
    assert source.status("not-taken")["state"] == "queued"


def test_sigterm_hands_every_running_job_back_when_the_grace_runs_out(tmp_path):
    env = worker_env(tmp_path, MAX_JOBS="2", FAKE_SCENE_SECONDS="30", SHUTDOWN_GRACE="1")
    source = SpoolSource(load_settings(env, read_files=False), worker_name="test")
    for job_id in ("long1", "long2"):
        source.submit(tiny_job(job_id, scenes=4))
    proc = start_worker(tmp_path, env)
    wait_for(lambda: _both_started(source, ("long1", "long2")), timeout=WAIT, what="both jobs")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=WAIT) == 0
    for job_id in ("long1", "long2"):
        status = source.status(job_id)
        assert status["state"] == "queued" and status["attempts"] == 0
    assert ledger(tmp_path) == []


def test_systemd_hears_ready_and_watchdog_pings_while_two_jobs_run(tmp_path):
    folder = tempfile.mkdtemp(prefix="pv-notify-", dir="/tmp")   # AF_UNIX paths are short
    address = os.path.join(folder, "notify")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(address)
    listener.settimeout(WAIT)
    env = worker_env(tmp_path, NOTIFY_SOCKET=address, WATCHDOG_USEC="400000", MAX_JOBS="2",
                     FAKE_SCENE_SECONDS="1", POLL_INTERVAL="5")
    source = SpoolSource(load_settings(env, read_files=False), worker_name="test")
    for job_id in ("ping1", "ping2"):
        source.submit(tiny_job(job_id, scenes=3))
    proc = start_worker(tmp_path, env, "--once")
    messages: list[str] = []
    try:
        while not any("STOPPING=1" in m for m in messages):
            messages.append(listener.recv(4096).decode())
    finally:
        code = proc.wait(timeout=WAIT)
        listener.close()
        os.unlink(address)
        os.rmdir(folder)
    assert code == 0 and sorted(ledger(tmp_path)) == ["ping1", "ping2"]
    ready = next(i for i, m in enumerate(messages) if "READY=1" in m.split("\n"))
    # 3 s of jobs, a watchdog of 0.4 s: pings every 0.2 s or less while both run
    assert sum("WATCHDOG=1" in m.split("\n") for m in messages[ready + 1:]) >= 5


def test_two_jobs_at_once_from_redis_each_acknowledged_once(redis_settings, tmp_path, monkeypatch):
    from protovideo.service.sources.redis_streams import RedisSource
    from test_redis_source import run_worker
    monkeypatch.setenv("FAKE_SCENE_SECONDS", "0.1")
    settings = redis_settings(MAX_JOBS=2, MAX_ATTEMPTS=2)
    source = RedisSource(settings)
    ids = ["r-a", "r-b", "transient-r", "boom-r", "r-c", "r-d"]
    for job_id in ids:
        source.submit(tiny_job(job_id, scenes=2))
    worker = run_worker(settings)
    assert worker.max_jobs == 2
    assert sorted(ledger(tmp_path)) == ["r-a", "r-b", "r-c", "r-d"]
    assert worker.counts == {"done": 4, "failed": 2, "retried": 1, "released": 0, "cancelled": 0}
    status = source.status()
    assert status["queued_total"] == 0 and status["started"] == 0 and source.is_drained()
