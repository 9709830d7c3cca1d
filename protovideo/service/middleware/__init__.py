"""Middleware: the worker's cross-cutting concerns, one module each (Dramatiq style).

    base.Middleware        the typed hooks, and the order they run in
    metrics.MetricsMiddleware      attempts by outcome and duration, queue depth, /metrics
    memory.MemoryWatchMiddleware   claim nothing while memory is critical
    time_limit.TimeLimit   JOB_TIMEOUT: cancel the job with its own error, a JobTimeout
    retries.Retries        transient failures tried again with backoff
    webhooks.WebhooksMiddleware    a job's final record POSTed to callback_url / WEBHOOK_URL
    presence.WorkerPresence  the worker's presence beat (GET /v1/workers)

`default_middleware(runtime)` is the one default list. A new concern is a new
module here with a Middleware subclass, added to that list: before-hooks run in
list order, after-hooks in reverse, so the first is the outermost.
"""
from __future__ import annotations

from protovideo.pipeline.runtime import Runtime
from protovideo.service.middleware.base import AFTER_HOOKS, BEFORE_HOOKS, Middleware, WorkerView
from protovideo.service.middleware.memory import MemoryWatchMiddleware
from protovideo.service.middleware.metrics import MetricsMiddleware
from protovideo.service.middleware.presence import WorkerPresence
from protovideo.service.middleware.retries import Retries
from protovideo.service.middleware.time_limit import JobTimeout, TimeLimit
from protovideo.service.middleware.webhooks import WebhooksMiddleware


def default_middleware(runtime: Runtime) -> list[Middleware]:
    """The daemon's middleware over the process's runtime, outermost first: metrics (times
    the whole attempt), webhooks (after_job_ended: the final record), presence, memory
    watch, time limit, retries (innermost: its decision, `claimed.retry_in`, is made before the
    after-hooks of everything listed before it run)."""
    settings = runtime.settings
    return [MetricsMiddleware(runtime.metrics),
            WebhooksMiddleware(settings),
            WorkerPresence(),
            MemoryWatchMiddleware(runtime.memory),
            TimeLimit(settings.JOB_TIMEOUT),
            Retries(settings.MAX_ATTEMPTS, min_backoff=settings.RETRY_BACKOFF)]


__all__ = ["Middleware", "WorkerView", "BEFORE_HOOKS", "AFTER_HOOKS", "MetricsMiddleware",
           "MemoryWatchMiddleware", "TimeLimit", "JobTimeout", "Retries", "WebhooksMiddleware",
           "WorkerPresence", "default_middleware"]
