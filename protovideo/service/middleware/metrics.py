"""Metrics middleware: the one writer of the job metrics (attempts by outcome, their
wall time, jobs in progress), the queue depth and whether the worker takes jobs. Step
durations and cache counts are written by the pipeline's PerformanceOptimizer, each by
that one writer too. The endpoint that serves them is the entry point's
(protovideo.service.metrics_server.serve_metrics on the runtime)."""
from __future__ import annotations

import logging
import time
from typing import Any, Mapping

from jobmodel.errors import JobInvalid, TransientError
from jobmodel.states import Outcome
from protovideo.pipeline.metrics import Metrics
from protovideo.service.middleware.base import Middleware

log = logging.getLogger("protovideo.metrics")


def job_outcome(error: BaseException) -> Outcome:
    """The outcome of a failed attempt: invalid, transient (may be retried) or failed."""
    if isinstance(error, JobInvalid):
        return Outcome.INVALID
    if isinstance(error, TransientError):
        return Outcome.TRANSIENT
    return Outcome.FAILED


def queue_depth(source: Any) -> Mapping[str, int] | int | None:
    """Jobs waiting, by priority where the source says (status()["queued"]), else
    status()["queued_total"]; None when the source cannot tell now."""
    try:
        status = source.status()
    except Exception:  # noqa: BLE001 - metrics never break the worker (source down...)
        log.debug("queue depth unavailable", exc_info=True)
        return None
    queued = status.get("queued") if isinstance(status, Mapping) else None
    if isinstance(queued, Mapping) and all(isinstance(v, int) for v in queued.values()):
        return queued
    total = status.get("queued_total") if isinstance(status, Mapping) else None
    return total if isinstance(total, int) and not isinstance(total, bool) else None


class MetricsMiddleware(Middleware):
    """Counts attempts by outcome and tracks queue depth into the runtime's metrics. First
    in the default list: it times the whole attempt."""

    def __init__(self, metrics: Metrics, depth_interval: float = 5.0):
        self.metrics = metrics
        self.depth_interval = depth_interval
        self._last_depth = float("-inf")
        self._started: dict[int, float] = {}

    def _refresh_depth(self, worker: Any, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_depth < self.depth_interval:
            return
        self._last_depth = now
        depth = queue_depth(worker.source)
        if depth is not None:
            self.metrics.set_queue_depth(depth)

    def before_worker_boot(self, worker: Any) -> None:
        self.metrics.set_taking_jobs(True)
        self._refresh_depth(worker, force=True)

    def after_worker_shutdown(self, worker: Any) -> None:
        self.metrics.set_taking_jobs(False)

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
        self.metrics.job_finished(Outcome.DONE, self._seconds(claimed))
        self._refresh_depth(worker, force=True)

    def after_job_failed(self, worker: Any, claimed: Any, error: BaseException) -> None:
        self.metrics.job_finished(job_outcome(error), self._seconds(claimed))
        self._refresh_depth(worker, force=True)

    def after_job_cancelled(self, worker: Any, claimed: Any) -> None:
        self.metrics.job_finished(Outcome.CANCELLED, self._seconds(claimed))
        self._refresh_depth(worker, force=True)

    def after_job_released(self, worker: Any, claimed: Any) -> None:
        self._started.pop(id(claimed), None)
        self.metrics.job_left()

    def after_idle(self, worker: Any) -> None:
        self._refresh_depth(worker)
