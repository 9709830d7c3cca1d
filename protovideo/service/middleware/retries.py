"""Retries middleware: transient failures are tried again, with exponential backoff and jitter.

Only errors marked retryable (errors.TransientError: downloads, API calls, a busy
GPU) are retried, and only while the job has attempts left (MAX_ATTEMPTS).
An invalid job or any other failure is final at once.
"""
from __future__ import annotations

import logging
import random

from jobmodel.backoff import Backoff
from protovideo.service.middleware.base import Middleware

log = logging.getLogger("protovideo.service.middleware.retries")


class Retries(Middleware):
    def __init__(self, max_attempts: int, min_backoff: float, max_backoff: float = 300.0,
                 jitter: float = 0.5, rng: random.Random | None = None):
        """max_attempts: MAX_ATTEMPTS; min_backoff: RETRY_BACKOFF (seconds before the first
        retry); max_backoff: the cap the RETRY_BACKOFF setting documents."""
        self.max_attempts = max_attempts
        self.wait = Backoff(min_backoff, max_backoff, jitter, rng or random.Random())

    def backoff(self, attempts: int) -> float:
        """Delay before attempt `attempts + 1` (jobmodel.backoff: doubling from
        min_backoff, capped at max_backoff, jittered so that workers do not retry in step)."""
        return self.wait.delay(attempts)

    def after_job_failed(self, worker, claimed, error: BaseException) -> None:
        if not getattr(error, "retryable", False):
            return
        if claimed.attempts >= self.max_attempts:
            log.error("job %s: attempt %d of %d failed (%s); no attempts left",
                      claimed.id, claimed.attempts, self.max_attempts, error)
            return
        claimed.retry_in = self.backoff(claimed.attempts)
        log.warning("job %s: attempt %d of %d failed (%s); retrying in %.1fs",
                    claimed.id, claimed.attempts, self.max_attempts, error, claimed.retry_in)
