"""A shared level's off switch (Redis, S3): a failing store is left alone for a while."""
from __future__ import annotations

import logging
import threading
import time


class Outage:
    """A shared level's off switch: after a failure the level answers "not here" for
    `retry_after_s` (the disk level carries on), with one warning per outage."""

    def __init__(self, level: str, log: logging.Logger, retry_after_s: float = 30.0):
        self.level, self.log, self.retry_after_s = level, log, retry_after_s
        self._down_until = 0.0
        self._lock = threading.Lock()

    @property
    def up(self) -> bool:
        return time.monotonic() >= self._down_until

    def failed(self, what: str, detail: object) -> None:
        with self._lock:
            if self.up:
                self.log.warning("cache: %s unavailable (%s: %s); using the disk level only for %.0fs",
                                 self.level, what, detail, self.retry_after_s)
            self._down_until = time.monotonic() + self.retry_after_s
