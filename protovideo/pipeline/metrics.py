"""The worker's Prometheus metrics and its health answer, in a registry of their own.

    metrics = Metrics(memory_watch)    # one per process, in its Runtime (protovideo.pipeline.runtime)
    metrics.watch_queue(source)        # the queue depth is read from this job source at each scrape
    metrics.registry                   # served by prometheus-client's own WSGI/ASGI apps
    metrics.health()                   # {"taking_jobs": true, "memory": {...}, "jobs": {...}, ...}

Names and units follow Prometheus' conventions: base units (seconds, bytes), counters end in
`_total`, no label value that sums the others (queue depth is by priority only: `sum()` is the
total). GPU memory is a series only where this process has a GPU (CUDA through torch).

    protovideo_jobs_total{outcome}            attempts ended: done, invalid, transient, failed, cancelled
    protovideo_job_duration_seconds           histogram: wall time of an attempt
    protovideo_step_duration_seconds{step}    histogram: pipeline steps (tts_synthesis, render_scene, ...)
    protovideo_cache_hits_total, protovideo_cache_misses_total
    protovideo_jobs_in_progress, protovideo_taking_jobs, protovideo_memory_paused
    protovideo_queue_depth{priority}          jobs waiting: critical, high, normal, low
    protovideo_rss_bytes                      resident memory of the worker process
    protovideo_gpu_memory_bytes               GPU memory it holds (reserved by torch); with a GPU only
    process_*                                 prometheus-client's process collector

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
from prometheus_client.core import GaugeMetricFamily

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
        self._queue_source: Any = None
        r.register(_LiveCollector(self))   # memory and queue depth, read at each scrape
        self.memory_paused.set_function(lambda: 1.0 if self._memory_watch().paused else 0.0)
        self.taking.set_function(lambda: 1.0 if self.taking_jobs() else 0.0)

    # -- sources -----------------------------------------------------------------
    def _memory_watch(self) -> Any:
        return self._watch

    def queue_depths(self) -> Mapping[str, int] | None:
        """Jobs waiting by priority in the watched source now; None without one or when it cannot tell."""
        source = self._queue_source
        return None if source is None else queue_depths(source)

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

    def watch_queue(self, source: Any) -> None:
        """Read the queue depth from `source` (its status()["queued"]) at each scrape. The first
        source given is kept: a worker and the job API in one process see one queue."""
        with self._lock:
            if self._queue_source is None:
                self._queue_source = source

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


def queue_depths(source: Any) -> Mapping[str, int] | None:
    """Jobs waiting by priority (status()["queued"]); None when the source cannot tell now."""
    try:
        status = source.status()
    except Exception:  # noqa: BLE001 - a scrape answers even when the source is down
        log.debug("queue depth unavailable", exc_info=True)
        return None
    queued = status.get("queued") if isinstance(status, Mapping) else None
    if isinstance(queued, Mapping) and all(isinstance(v, int) and not isinstance(v, bool) for v in queued.values()):
        return queued
    return None


class _LiveCollector:
    """What is read at scrape time: memory (one sample for both) and the queue depth."""

    def __init__(self, metrics: Metrics):
        self.metrics = metrics

    def describe(self):
        return [GaugeMetricFamily("protovideo_rss_bytes", "Resident memory of the worker process"),
                GaugeMetricFamily("protovideo_gpu_memory_bytes", "GPU memory held by the worker process"),
                GaugeMetricFamily("protovideo_queue_depth", "Jobs waiting in the job source", labels=["priority"])]

    def collect(self):
        sample = self.metrics._memory_watch().sample()
        yield GaugeMetricFamily("protovideo_rss_bytes", "Resident memory of the worker process",
                                value=sample.rss_mb * 2**20)
        if sample.gpu_mb is not None:   # no series at all on a machine without a GPU
            yield GaugeMetricFamily("protovideo_gpu_memory_bytes", "GPU memory held by the worker process",
                                    value=sample.gpu_mb * 2**20)
        depths = self.metrics.queue_depths()
        if depths is not None:
            family = GaugeMetricFamily("protovideo_queue_depth", "Jobs waiting in the job source",
                                       labels=["priority"])
            for priority, count in depths.items():
                family.add_metric([str(priority)], int(count))
            yield family


def _default_metrics() -> Metrics:
    from protovideo.pipeline.memory_watch import shared_watch
    return Metrics(shared_watch())


INSTALLED: Installed[Metrics] = Installed(_default_metrics)   # Runtime.install sets it


def shared_metrics() -> Metrics:
    """The installed runtime's metrics (protovideo.pipeline.runtime), for code not yet handed
    the runtime: the job API's routes. With no runtime installed, metrics over shared_watch()."""
    return INSTALLED.get()
