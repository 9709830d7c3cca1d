"""Backoff: how long to wait before trying again, the one rule every retry uses.

    wait = Backoff(base=1.0, cap=30.0)
    time.sleep(wait.delay(attempt))                 # attempt 1 failed: ~0.5-1 s, then ~1-2 s ...
    time.sleep(wait.delay(attempt, retry_after=9))  # never sooner than the server asked

The delay doubles with each failed attempt (base * 2**(attempt-1)) up to `cap`;
the top `jitter` fraction of it is drawn at random so that workers that failed
together do not all come back in step. Users: the Retries middleware (a job
tried again), the worker (a job source that is down), the HTTP job source (an
unreachable API, an outcome not delivered), downloads (generators.fetch), the
OpenAI image provider and the cache index's lock retries (cache/index_health.py).
It lives beside the errors in the job model because the cache, generators and the
service all need it and the lower layers may not import the upper ones.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Backoff:
    base: float              # seconds before the second attempt (before jitter)
    cap: float               # the longest wait
    jitter: float = 0.5      # 0: exact delays; 0.5: between half and all of the delay
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not (self.base >= 0 and self.cap >= 0 and 0 <= self.jitter <= 1):
            raise ValueError("backoff needs base >= 0, cap >= 0 and 0 <= jitter <= 1")

    def ceiling(self, attempt: int) -> float:
        """The delay after failed attempt `attempt` (1 = the first) before jitter."""
        return min(self.cap, self.base * 2 ** min(max(0, attempt - 1), 64))

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait after failed attempt `attempt`, at least `retry_after`
        (a server's Retry-After; itself capped)."""
        ceiling = self.ceiling(attempt)
        wait = ceiling * (1 - self.jitter) + self.rng.uniform(0, ceiling * self.jitter)
        if retry_after is not None and retry_after > 0:
            wait = max(wait, min(float(retry_after), self.cap))
        return wait
