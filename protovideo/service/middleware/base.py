"""Middleware: the worker's cross-cutting concerns, with typed hooks (Dramatiq's shape).

The worker calls each hook on every middleware of its list:

    before_worker_boot, can_claim, before_process_job     in list order
    after_process_job, after_job_failed, after_job_cancelled,
    after_job_ended, after_job_released, after_idle, after_worker_shutdown  in REVERSE list order

so the first middleware is the outermost: it sees a job first and last (the
metrics time the whole attempt, other middleware included), and a middleware
whose after-hook must see another's decision (e.g. whether Retries will try the
job again: `claimed.retry_in`) stands before it in the list. A hook that is not
overridden does nothing; one that raises is logged and the others still run.

A middleware that stops a job calls `claimed.request_cancel(reason, error)`; the
worker then records `error` as the job's failure (TimeLimit gives its JobTimeout).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:   # for the annotations only: sources never import middleware
    from protovideo.service.sources.base import ClaimedJob, JobSource


class WorkerView(Protocol):
    """What middleware may use of the worker."""

    settings: Any
    source: "JobSource"
    name: str
    running: "dict[str, ClaimedJob]"   # job id -> job, for every job this worker runs now


BEFORE_HOOKS = ("before_worker_boot", "can_claim", "before_process_job")
AFTER_HOOKS = ("after_process_job", "after_job_failed", "after_job_cancelled",
               "after_job_ended", "after_job_released", "after_idle", "after_worker_shutdown")


class Middleware:
    def before_worker_boot(self, worker: WorkerView) -> None:
        """The worker starts (before its first claim)."""

    def can_claim(self, worker: WorkerView) -> bool:
        """False pauses claiming of new jobs (e.g. memory is critical)."""
        return True

    def before_process_job(self, worker: WorkerView, claimed: "ClaimedJob") -> None:
        """A job was claimed; it is about to be parsed and rendered."""

    def after_process_job(self, worker: WorkerView, claimed: "ClaimedJob", result: Any) -> None:
        """The job was rendered (`result`: the RenderResult) and recorded as finished."""

    def after_job_failed(self, worker: WorkerView, claimed: "ClaimedJob",
                         error: BaseException) -> None:
        """The attempt failed with `error`; set `claimed.retry_in` to have it tried again."""

    def after_job_cancelled(self, worker: WorkerView, claimed: "ClaimedJob") -> None:
        """The job was cancelled while it ran (a cancel request): recorded cancelled, no output."""

    def after_job_ended(self, worker: WorkerView, claimed: "ClaimedJob", record: dict) -> None:
        """The source recorded the job's final record (finished, failed for good, or
        cancelled while it ran) - never a failed attempt that will be tried again."""

    def after_job_released(self, worker: WorkerView, claimed: "ClaimedJob") -> None:
        """The job left this worker without an outcome: handed back (the worker is
        stopping), its lease lost, or recording its outcome failed."""

    def after_idle(self, worker: WorkerView) -> None:
        """A claim found no job."""

    def after_worker_shutdown(self, worker: WorkerView) -> None:
        """The worker stopped claiming and is about to close its source."""
