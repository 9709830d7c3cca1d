"""TimeLimit middleware: a job that runs longer than JOB_TIMEOUT is stopped and failed.

When the limit is reached it cancels the job with its own error, a JobTimeout
(`claimed.request_cancel("timeout", error)`); the pipeline sees the cancel event
between steps and stops, and the worker records that error (not retried).
"""
from __future__ import annotations

import logging
import threading

from jobmodel.errors import JobFailed
from protovideo.service.middleware.base import Middleware

log = logging.getLogger("protovideo.service.middleware.time_limit")


class JobTimeout(JobFailed):
    """The job ran longer than JOB_TIMEOUT."""


class TimeLimit(Middleware):
    def __init__(self, seconds: float):
        self.seconds = seconds
        self._timers: dict[int, threading.Timer] = {}
        self._lock = threading.Lock()

    def error(self) -> JobTimeout:
        """The failure of a job stopped by this limit."""
        return JobTimeout(f"the job ran longer than JOB_TIMEOUT ({self.seconds:g}s)")

    def _expire(self, claimed) -> None:
        log.error("job %s: time limit of %.0fs reached; cancelling", claimed.id, self.seconds)
        claimed.request_cancel("timeout", self.error())

    def before_process_job(self, worker, claimed) -> None:
        timer = threading.Timer(self.seconds, self._expire, args=(claimed,))
        timer.daemon = True
        with self._lock:
            self._timers[id(claimed)] = timer
        timer.start()

    def _stop(self, claimed) -> None:
        with self._lock:
            timer = self._timers.pop(id(claimed), None)
        if timer is not None:
            timer.cancel()

    def after_process_job(self, worker, claimed, result) -> None:
        self._stop(claimed)

    def after_job_failed(self, worker, claimed, error) -> None:
        self._stop(claimed)

    def after_job_cancelled(self, worker, claimed) -> None:
        self._stop(claimed)

    def after_job_released(self, worker, claimed) -> None:
        self._stop(claimed)

    def after_worker_shutdown(self, worker) -> None:
        with self._lock:
            timers, self._timers = list(self._timers.values()), {}
        for timer in timers:
            timer.cancel()
