"""Metrics middleware: the one writer of the job metrics (attempts by outcome, their
wall time, jobs in progress) and whether the worker takes jobs; it hands the metrics its job
source, whose queue depth is read at each scrape. Step durations and cache counts are written by
the pipeline's PerformanceOptimizer, each by that one writer too. The endpoint that serves them
is the entry point's (protovideo.service.metrics_server.serve_metrics on the runtime)."""
from __future__ import annotations

import logging
import time
from typing import Any

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


class MetricsMiddleware(Middleware):
    """Counts attempts by outcome into the runtime's metrics. First in the default list: it
    times the whole attempt."""

    def __init__(self, metrics: Metrics):
        self.metrics = metrics
        self._started: dict[int, float] = {}

    def before_worker_boot(self, worker: Any) -> None:
        self.metrics.set_taking_jobs(True)
        self.metrics.watch_queue(worker.source)

    def after_worker_shutdown(self, worker: Any) -> None:
        self.metrics.set_taking_jobs(False)

    def before_process_job(self, worker: Any, claimed: Any) -> None:
        self._started[id(claimed)] = time.monotonic()
        self.metrics.job_started()

    def _seconds(self, claimed: Any) -> float | None:
        start = self._started.pop(id(claimed), None)
        return None if start is None else time.monotonic() - start

    def after_process_job(self, worker: Any, claimed: Any, result: Any) -> None:
        self.metrics.job_finished(Outcome.DONE, self._seconds(claimed))

    def after_job_failed(self, worker: Any, claimed: Any, error: BaseException) -> None:
        self.metrics.job_finished(job_outcome(error), self._seconds(claimed))

    def after_job_cancelled(self, worker: Any, claimed: Any) -> None:
        self.metrics.job_finished(Outcome.CANCELLED, self._seconds(claimed))

    def after_job_released(self, worker: Any, claimed: Any) -> None:
        self._started.pop(id(claimed), None)
        self.metrics.job_left()
