"""Middleware: the worker's cross-cutting concerns, one module each (Dramatiq style).

    base.Middleware        the hooks, and the order they run in
    retries.Retries        transient failures tried again with backoff
    time_limit.TimeLimit   JOB_TIMEOUT: cancel the job, fail it with JobTimeout
    memory.MemoryWatchMiddleware   claim nothing while memory is critical
    metrics.MetricsMiddleware      jobs by outcome and duration, queue depth, /metrics

`default_middleware(settings)` is the one default list.
"""
from __future__ import annotations

from protovideo.service.middleware.base import Middleware
from protovideo.service.middleware.memory import MemoryWatchMiddleware
from protovideo.service.middleware.metrics import MetricsMiddleware
from protovideo.service.middleware.retries import Retries
from protovideo.service.middleware.time_limit import JobTimeout, TimeLimit


def default_middleware(settings) -> list[Middleware]:
    """The daemon's middleware, in order: retries, time limit, memory watch, metrics."""
    from protovideo.pipeline.memory_watch import shared_watch
    from protovideo.pipeline.metrics import shared_metrics
    return [Retries(settings.MAX_ATTEMPTS, min_backoff=settings.RETRY_BACKOFF),
            TimeLimit(settings.JOB_TIMEOUT),
            MemoryWatchMiddleware(shared_watch(settings)),
            MetricsMiddleware(shared_metrics(), settings)]


__all__ = ["Middleware", "Retries", "TimeLimit", "JobTimeout", "MemoryWatchMiddleware",
           "MetricsMiddleware", "default_middleware"]
