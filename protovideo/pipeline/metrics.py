"""The worker's Prometheus metrics and its health answer, in a registry of their own.

    metrics = Metrics(memory_watch)    # one per process, in its Runtime (protovideo.pipeline.runtime)
    metrics.exposition()               # the Prometheus text format (GET /metrics)
    metrics.health()                   # {"taking_jobs": true, "memory": {...}, "jobs": {...}, ...}

Recording is cheap and happens whether or not the metrics are served, so the optimizer and
the worker middleware never need to know about the port. The endpoint (METRICS_PORT > 0) is
protovideo.service.metrics_server, started by the entry point; the job API serves them too.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Any, Mapping

from prometheus_client import (CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector,
                               generate_latest)

from jobmodel.states import Outcome
from protovideo.pipeline.installed import Installed


log = logging.getLogger("protovideo.pipeline.metrics")

STEP_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)
JOB_OUTCOMES = tuple(o.value for o in Outcome)   # done, invalid, transient, failed, cancelled


class Metrics:
    """The worker's metrics in their own registry (several instances never clash)."""

    def __init__(self, memory_watch: Any):
        self.registry = CollectorRegistry()
        self.started_at = time.time()
        r = self.registry
        ProcessCollector(registry=r)  # process_cpu_seconds_total, process_resident_memory_bytes, ...
        self.jobs = Counter("protovideo_jobs", "Jobs finished, by outcome", ["outcome"], registry=r)
        self.job_seconds = Histogram("protovideo_job_duration_seconds", "Wall time of a job",
                                     buckets=STEP_BUCKETS, registry=r)
        self.steps = Histogram("protovideo_step_duration_seconds", "Duration of pipeline steps",
                               ["step"], buckets=STEP_BUCKETS, registry=r)
        self.cache_hits = Counter("protovideo_cache_hits", "Artifact cache hits", registry=r)
        self.cache_misses = Counter("protovideo_cache_misses", "Artifact cache misses", registry=r)
        self.rss = Gauge("protovideo_rss_mb", "Resident memory of the worker process, MB", registry=r)
        self.gpu = Gauge("protovideo_gpu_memory_mb", "GPU memory held by the worker, MB", registry=r)
        self.queue_depth = Gauge("protovideo_queue_depth", "Jobs waiting in the job source",
                                 ["priority"], registry=r)
        self.in_progress = Gauge("protovideo_jobs_in_progress", "Jobs being rendered now", registry=r)
        self.taking = Gauge("protovideo_taking_jobs", "1 while the worker claims new jobs", registry=r)
        self.memory_paused = Gauge("protovideo_memory_paused",
                                   "1 while claiming is paused for memory", registry=r)
        for outcome in JOB_OUTCOMES:   # every outcome visible from the start, at 0
            self.jobs.labels(outcome=outcome)
        self._lock = threading.Lock()
        self._counts: dict[str, int] = {o: 0 for o in JOB_OUTCOMES}
        self._taking_jobs: bool | None = None   # None: no worker loop in this process
        self._running = 0
        self._watch = memory_watch
        self.rss.set_function(self._rss_now)
        self.gpu.set_function(self._gpu_now)
        self.memory_paused.set_function(lambda: 1.0 if self._memory_watch().paused else 0.0)
        self.taking.set_function(lambda: 1.0 if self.taking_jobs() else 0.0)

    # -- sources -----------------------------------------------------------------
    def _memory_watch(self) -> Any:
        return self._watch

    def _rss_now(self) -> float:
        return self._memory_watch().sample().rss_mb

    def _gpu_now(self) -> float:
        return self._memory_watch().last_sample.gpu_mb or 0.0

    # -- recording ---------------------------------------------------------------
    def observe_step(self, name: str, seconds: float) -> None:
        self.steps.labels(step=name).observe(max(0.0, seconds))

    def job_started(self) -> None:
        with self._lock:
            self._running += 1
            self.in_progress.set(self._running)

    def job_finished(self, outcome: Outcome | str, seconds: float | None = None) -> None:
        """Count an attempt by outcome and its wall time (the job duration histogram
        has this one writer: the worker's metrics middleware)."""
        outcome = Outcome(outcome).value
        self.jobs.labels(outcome=outcome).inc()
        with self._lock:
            self._counts[outcome] = self._counts.get(outcome, 0) + 1
        self.job_left()
        if seconds is not None:
            self.job_seconds.observe(max(0.0, seconds))

    def job_left(self) -> None:
        """A job stopped running here (ended, or handed back without an outcome)."""
        with self._lock:
            self._running = max(0, self._running - 1)
            self.in_progress.set(self._running)

    def add_cache_stats(self, stats: Mapping[str, Any]) -> None:
        """Add one job's cache hits and misses."""
        self.cache_hits.inc(max(0, int(stats.get("hits", 0) or 0)))
        self.cache_misses.inc(max(0, int(stats.get("misses", 0) or 0)))

    def set_queue_depth(self, depth: int | Mapping[str, int]) -> None:
        """A total, or depths by priority (e.g. {"high": 1, "normal": 4})."""
        if isinstance(depth, Mapping):
            total = 0
            for priority, count in depth.items():
                self.queue_depth.labels(priority=str(priority)).set(int(count))
                total += int(count)
            self.queue_depth.labels(priority="all").set(total)
        else:
            self.queue_depth.labels(priority="all").set(int(depth))

    def set_taking_jobs(self, taking: bool | None) -> None:
        with self._lock:
            self._taking_jobs = taking

    def taking_jobs(self) -> bool:
        with self._lock:
            taking = self._taking_jobs
        paused = self._memory_watch().paused
        return (True if taking is None else taking) and not paused

    # -- reading -----------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        with self._lock:
            counts = dict(self._counts)
            running = self._running
        return {"taking_jobs": self.taking_jobs(),
                "memory": self._memory_watch().state(),
                "jobs": counts,
                "jobs_in_progress": running,
                "uptime_s": round(time.time() - self.started_at, 1)}

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


def _default_metrics() -> Metrics:
    from protovideo.pipeline.memory_watch import shared_watch
    return Metrics(shared_watch())


INSTALLED: Installed[Metrics] = Installed(_default_metrics)   # Runtime.install sets it


def shared_metrics() -> Metrics:
    """The installed runtime's metrics (protovideo.pipeline.runtime), for code not yet handed
    the runtime: the job API's routes. With no runtime installed, metrics over shared_watch()."""
    return INSTALLED.get()
