"""Memory middleware: the daemon claims no new job while memory is critical."""
from __future__ import annotations

from typing import Any

from protovideo.pipeline.memory_watch import MemoryWatch
from protovideo.service.middleware.base import Middleware


class MemoryWatchMiddleware(Middleware):
    """The daemon claims no new job while memory is critical (until back under warning)."""

    def __init__(self, watch: MemoryWatch):
        self.watch = watch   # the runtime's

    def can_claim(self, worker: Any) -> bool:
        self.watch.check()
        return not self.watch.paused

    def after_process_job(self, worker: Any, claimed: Any, result: Any) -> None:
        self.watch.check()

    def after_job_failed(self, worker: Any, claimed: Any, error: BaseException) -> None:
        self.watch.check()

    def after_job_cancelled(self, worker: Any, claimed: Any) -> None:
        self.watch.check()

    def after_idle(self, worker: Any) -> None:
        self.watch.check()
