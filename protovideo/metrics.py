"""Prometheus metrics and the health endpoint (METRICS_PORT > 0).

    metrics = shared_metrics()                 # process-wide, always recording
    server = start_metrics_server(settings)    # None when METRICS_PORT=0
    GET /metrics  -> Prometheus text format
    GET /health   -> {"taking_jobs": true, "memory": {...}, "jobs": {...}, ...}
                     (HTTP 200 when taking jobs, 503 when not)

Recording is cheap and happens whether or not the endpoint is served, so the
optimizer and the worker middleware never need to know about the port.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Mapping

from prometheus_client import (CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge,
                               Histogram, generate_latest)

from .middleware import Middleware

log = logging.getLogger("protovideo.metrics")

STEP_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)
JOB_OUTCOMES = ("done", "failed", "invalid", "transient")


class Metrics:
    """The worker's metrics in their own registry (several instances never clash)."""

    def __init__(self, memory_watch: Any = None):
        self.registry = CollectorRegistry()
        self.started_at = time.time()
        r = self.registry
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
        if self._watch is None:
            from .memory_watch import shared_watch
            self._watch = shared_watch()
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

    def job_finished(self, outcome: str, seconds: float | None = None) -> None:
        """Count a job by outcome (done, failed, invalid, transient)."""
        self.jobs.labels(outcome=outcome).inc()
        with self._lock:
            self._counts[outcome] = self._counts.get(outcome, 0) + 1
            self._running = max(0, self._running - 1)
            self.in_progress.set(self._running)
        if seconds is not None:
            self.job_seconds.observe(max(0.0, seconds))

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


_SHARED: Metrics | None = None
_SHARED_LOCK = threading.Lock()


def shared_metrics() -> Metrics:
    global _SHARED
    with _SHARED_LOCK:
        if _SHARED is None:
            _SHARED = Metrics()
        return _SHARED


class _Handler(BaseHTTPRequestHandler):
    server: "_Server"

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        path = self.path.split("?", 1)[0].rstrip("/") or "/"
        metrics = self.server.metrics
        try:
            if path == "/metrics":
                self._send(200, CONTENT_TYPE_LATEST, metrics.exposition())
            elif path in ("/health", "/healthz"):
                body = metrics.health()
                self._send(200 if body["taking_jobs"] else 503, "application/json",
                           json.dumps(body).encode())
            else:
                self._send(404, "text/plain; charset=utf-8", b"not found: try /metrics or /health\n")
        except Exception:  # noqa: BLE001 - a scrape must never take the worker down
            log.exception("metrics endpoint failed on %s", path)
            self._send(500, "text/plain; charset=utf-8", b"internal error\n")

    def _send(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        log.debug("metrics %s - %s", self.address_string(), format % args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    metrics: Metrics


class MetricsServer:
    """The /metrics and /health endpoint on a background thread."""

    def __init__(self, metrics: Metrics, port: int, host: str = "0.0.0.0"):
        self.metrics = metrics
        self._httpd = _Server((host, int(port)), _Handler)
        self._httpd.metrics = metrics
        self.host = host
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="metrics-http",
                                        kwargs={"poll_interval": 0.2}, daemon=True)
        self._thread.start()
        log.info("metrics endpoint on http://%s:%d/metrics and /health", host, self.port)

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"http://{host}:{self.port}"

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


_SERVER: MetricsServer | None = None


def start_metrics_server(settings: Any = None, *, port: int | None = None, host: str = "0.0.0.0",
                         metrics: Metrics | None = None) -> MetricsServer | None:
    """Serve the process-wide metrics on METRICS_PORT (or `port`); None when it is 0/off.

    Idempotent: a second call returns the server already running. `port=0`
    given explicitly picks a free port (tests).
    """
    global _SERVER
    if port is None:
        port = int(getattr(settings, "METRICS_PORT", 0) or 0)
        if port == 0:
            return None
    with _SHARED_LOCK:
        if _SERVER is not None:
            return _SERVER
    server = MetricsServer(metrics or shared_metrics(), port, host)
    with _SHARED_LOCK:
        _SERVER = server
    return server


def stop_metrics_server() -> None:
    global _SERVER
    with _SHARED_LOCK:
        server, _SERVER = _SERVER, None
    if server is not None:
        server.stop()



def job_outcome(error: BaseException) -> str:
    """The outcome label for a failed job: invalid, transient (may be retried) or failed."""
    from .errors import JobInvalid, TransientError
    if isinstance(error, JobInvalid):
        return "invalid"
    if isinstance(error, TransientError):
        return "transient"
    return "failed"


def _queue_depth(worker: Any) -> Any:
    """Queue depth from the worker's source: status()["queued"] (by priority) or
    ["queued_total"], else a depths()/queue_depth() method; None when unknown."""
    source = getattr(worker, "source", None)
    candidates = [(source, name) for name in ("status", "depths", "queue_depths", "queue_depth")]
    candidates.append((worker, "queue_depth"))
    for owner, name in candidates:
        fn = getattr(owner, name, None) if owner is not None else None
        if not callable(fn):
            continue
        try:
            value = fn()
        except Exception:  # noqa: BLE001 - metrics never break the worker
            log.debug("queue depth via %s failed", name, exc_info=True)
            continue
        if name == "status" and isinstance(value, Mapping):
            queued = value.get("queued")
            value = queued if isinstance(queued, Mapping) else value.get("queued_total")
        if isinstance(value, Mapping) and all(isinstance(v, int) for v in value.values()):
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


class MetricsMiddleware(Middleware):
    """Counts jobs by outcome, tracks queue depth and serves METRICS_PORT while the worker runs."""

    def __init__(self, metrics: Metrics | None = None, settings: Any = None,
                 depth_interval: float = 5.0):
        self.metrics = metrics or shared_metrics()
        self.settings = settings
        self.depth_interval = depth_interval
        self._last_depth = float("-inf")
        self.server: MetricsServer | None = None
        self._started: dict[int, float] = {}

    def _refresh_depth(self, worker: Any, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_depth < self.depth_interval:
            return
        self._last_depth = now
        depth = _queue_depth(worker)
        if depth is not None:
            self.metrics.set_queue_depth(depth)

    def before_worker_boot(self, worker: Any) -> None:
        self.metrics.set_taking_jobs(True)
        if self.settings is not None:
            self.server = start_metrics_server(self.settings)
        self._refresh_depth(worker, force=True)

    def after_worker_shutdown(self, worker: Any) -> None:
        self.metrics.set_taking_jobs(False)
        if self.server is not None:
            stop_metrics_server()
            self.server = None

    def can_claim(self, worker: Any) -> bool:
        self._refresh_depth(worker)
        return True

    def before_process_job(self, worker: Any, claimed: Any) -> None:
        self._started[id(claimed)] = time.monotonic()
        self.metrics.job_started()

    def _seconds(self, claimed: Any) -> float | None:
        start = self._started.pop(id(claimed), None)
        return None if start is None else time.monotonic() - start

    def after_process_job(self, worker: Any, claimed: Any, result: Any) -> None:
        self.metrics.job_finished("done", self._seconds(claimed))
        self._refresh_depth(worker, force=True)

    def after_job_failed(self, worker: Any, claimed: Any, error: BaseException) -> None:
        self.metrics.job_finished(job_outcome(error), self._seconds(claimed))
        self._refresh_depth(worker, force=True)

    def after_idle(self, worker: Any) -> None:
        self._refresh_depth(worker)
