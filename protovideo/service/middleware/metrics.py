"""Metrics middleware: jobs by outcome and duration (the one writer of the job metrics),
queue depth, and the metrics endpoint while the worker runs."""
from __future__ import annotations

import logging
import time
from typing import Any, Mapping

from protovideo.pipeline.metrics import Metrics, shared_metrics
from protovideo.service.metrics_server import MetricsServer, start_metrics_server, stop_metrics_server
from protovideo.service.middleware.base import Middleware

log = logging.getLogger("protovideo.metrics")


def job_outcome(error: BaseException) -> str:
    """The outcome label for a failed job: invalid, transient (may be retried) or failed."""
    from jobmodel.errors import JobInvalid, TransientError
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

    def after_job_cancelled(self, worker: Any, claimed: Any) -> None:
        self.metrics.job_finished("cancelled", self._seconds(claimed))
        self._refresh_depth(worker, force=True)

    def after_idle(self, worker: Any) -> None:
        self._refresh_depth(worker)
