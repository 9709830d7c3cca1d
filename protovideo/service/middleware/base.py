"""Middleware: cross-cutting concerns around the worker loop, with named hooks.

The worker calls every middleware's hooks in order; a hook that is not
overridden does nothing. Timing and memory watch, retries and time limits
are middleware, so the worker loop itself stays short.
"""
from __future__ import annotations

from typing import Any


class Middleware:
    def before_worker_boot(self, worker: Any) -> None: ...
    def after_worker_shutdown(self, worker: Any) -> None: ...
    def can_claim(self, worker: Any) -> bool:
        """False pauses claiming of new jobs (e.g. memory is critical)."""
        return True
    def before_process_job(self, worker: Any, claimed: Any) -> None: ...
    def after_process_job(self, worker: Any, claimed: Any, result: Any) -> None: ...
    def after_job_failed(self, worker: Any, claimed: Any, error: BaseException) -> None: ...
    def after_idle(self, worker: Any) -> None: ...
