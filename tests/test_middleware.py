"""Middleware through the real Worker and spool source (fake render): hook order,
the default list, and TimeLimit's own error."""
from __future__ import annotations

import pytest

from daemon_helpers import fake_make_context, fake_render, read_json, tiny_job
from protovideo.service.middleware import (AFTER_HOOKS, BEFORE_HOOKS, MemoryWatchMiddleware,
                                           MetricsMiddleware, Middleware, Retries, TimeLimit,
                                           WebhooksMiddleware, WorkerPresence, default_middleware)
from protovideo.service.middleware.time_limit import JobTimeout
from protovideo.service.sources.spool import SpoolSource
from protovideo.service.worker import Worker

from perf_helpers import fresh_process_state  # noqa: F401 - fixture


class Recorder(Middleware):
    """Writes "<name>:<hook>[:<job id>]" into a shared list for every hook."""

    def __init__(self, name: str, calls: list[str]):
        self.name, self.calls = name, calls

    def _note(self, hook: str, claimed=None) -> None:
        self.calls.append(f"{self.name}:{hook}" + (f":{claimed.id}" if claimed else ""))

    def before_worker_boot(self, worker):
        self._note("before_worker_boot")

    def can_claim(self, worker):
        self._note("can_claim")
        return True

    def before_process_job(self, worker, claimed):
        self._note("before_process_job", claimed)

    def after_process_job(self, worker, claimed, result):
        self._note("after_process_job", claimed)

    def after_job_failed(self, worker, claimed, error):
        self._note("after_job_failed", claimed)

    def after_idle(self, worker):
        self._note("after_idle")

    def after_worker_shutdown(self, worker):
        self._note("after_worker_shutdown")


def run_once(settings, middleware, render=fake_render, max_jobs=None):
    worker = Worker(settings, SpoolSource(settings), render=render,
                    make_context=fake_make_context, middleware=middleware, once=True,
                    max_jobs=max_jobs)
    assert worker.run(install_signals=False) == 0
    return worker


@pytest.mark.parametrize("max_jobs", [1, 2])
def test_before_hooks_run_in_list_order_and_after_hooks_in_reverse(make_settings, max_jobs,
                                                                   monkeypatch):
    """Per job, also with two jobs at once (MAX_JOBS=2: their hooks interleave)."""
    monkeypatch.setenv("FAKE_SCENE_SECONDS", "0.2")
    settings = make_settings(POLL_INTERVAL=0.05)
    source = SpoolSource(settings)
    source.submit(tiny_job("fine", scenes=2))
    source.submit(tiny_job("boom-1", scenes=2))
    calls: list[str] = []
    run_once(settings, [Recorder("A", calls), Recorder("B", calls), Recorder("C", calls)],
             max_jobs=max_jobs)

    def order(hook, job=None):
        suffix = f":{hook}" + (f":{job}" if job else "")
        return [c.split(":")[0] for c in calls if c.endswith(suffix) and c.count(":") == suffix.count(":")]

    assert order("before_worker_boot") == ["A", "B", "C"]
    assert order("before_process_job", "fine") == ["A", "B", "C"]
    assert order("after_process_job", "fine") == ["C", "B", "A"]
    assert order("before_process_job", "boom-1") == ["A", "B", "C"]
    assert order("after_job_failed", "boom-1") == ["C", "B", "A"]
    assert order("after_worker_shutdown") == ["C", "B", "A"]
    assert order("can_claim")[:3] == ["A", "B", "C"]
    assert set(BEFORE_HOOKS) | set(AFTER_HOOKS) >= {c.split(":")[1] for c in calls}


def test_a_failing_hook_does_not_stop_the_others_or_the_job(make_settings):
    class Broken(Middleware):
        def after_process_job(self, worker, claimed, result):
            raise RuntimeError("this middleware is broken")

    settings = make_settings(POLL_INTERVAL=0.05)
    SpoolSource(settings).submit(tiny_job("survives"))
    calls: list[str] = []
    worker = run_once(settings, [Recorder("A", calls), Broken()])
    assert "A:after_process_job:survives" in calls
    assert worker.counts["done"] == 1


def test_the_default_list_metrics_outermost_retries_innermost(make_settings, fresh_process_state):
    from protovideo.pipeline.runtime import Runtime
    kinds = [type(m) for m in default_middleware(Runtime.create(make_settings()))]
    assert kinds == [MetricsMiddleware, WebhooksMiddleware, WorkerPresence, MemoryWatchMiddleware, TimeLimit,
                     Retries]


def test_time_limit_owns_the_error_the_job_fails_with(make_settings, monkeypatch):
    """TimeLimit's own error (its message, not one the worker builds) is the failure record."""
    class ShortLimit(TimeLimit):
        def error(self):
            return JobTimeout(f"custom limit of {self.seconds:g}s")

    monkeypatch.setenv("FAKE_SCENE_SECONDS", "5")
    settings = make_settings(POLL_INTERVAL=0.05, JOB_TIMEOUT=0.3)
    SpoolSource(settings).submit(tiny_job("sloth", scenes=4))
    run_once(settings, [ShortLimit(0.3)])
    record = read_json(settings.path("SPOOL_DIR") / "failed" / "sloth.json")
    assert record["error"] == {"type": "JobTimeout", "message": "custom limit of 0.3s"}


@pytest.mark.parametrize("retryable", [True, False])
def test_a_middleware_listed_before_retries_sees_its_decision(make_settings, retryable):
    seen = []

    class Watcher(Middleware):
        def after_job_failed(self, worker, claimed, error):
            seen.append(claimed.retry_in)

    settings = make_settings(POLL_INTERVAL=0.05, MAX_ATTEMPTS=2, RETRY_BACKOFF=0.01)
    SpoolSource(settings).submit(tiny_job("transient-x" if retryable else "boom-x"))
    run_once(settings, [Watcher(), Retries(2, min_backoff=0.01)])
    if retryable:
        assert seen[0] is not None and 0 < seen[0] <= 0.01 and len(seen) == 2 and seen[1] is None
    else:
        assert seen == [None]
