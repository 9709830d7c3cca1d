"""Job sources: where the worker's jobs come from and where their outcomes go.

Every source has the same small interface (see base.JobSource); `open_source`
picks the one named by the JOB_SOURCE setting. The job store side (submit, get,
list_jobs, cancel) answers with the types of `store`: JobInfo, SubmitResult,
JobNotFound, JobNotCancellable, BadCursor; states are jobmodel.states.JobState.
"""
from __future__ import annotations

from jobmodel.states import JobState
from protovideo.service.sources.base import PRIORITIES, ClaimedJob, JobSource, LeaseLost
from protovideo.service.sources.store import (BadCursor, JobInfo, JobNotCancellable, JobNotFound,
                                              JobNotRetryable, SubmitResult)


def open_source(settings, worker_name: str | None = None, create: bool = True,
                clock=None) -> JobSource:
    """The job source named by settings.JOB_SOURCE (spool, http or redis).

    create=False (status, list, cancel): the spool's folders are not made; a missing
    spool raises FileNotFoundError naming it. `clock` (wall-clock seconds, time.time by
    default): the spool's leases and the spool's and Redis's retry times read it.
    """
    kind = settings.JOB_SOURCE
    extra = {"clock": clock} if clock is not None else {}
    if kind == "spool":
        from protovideo.service.sources.spool import SpoolSource
        return SpoolSource(settings, worker_name=worker_name, create=create, **extra)
    if kind == "http":
        from protovideo.service.sources.http_api import HttpSource
        return HttpSource(settings, worker_name=worker_name)
    if kind == "redis":
        from protovideo.service.sources.redis_streams import RedisSource
        return RedisSource(settings, worker_name=worker_name, **extra)
    raise ValueError(f"unknown JOB_SOURCE {kind!r}")


__all__ = ["PRIORITIES", "BadCursor", "ClaimedJob", "JobInfo", "JobNotCancellable", "JobNotFound",
           "JobNotRetryable", "JobSource", "JobState", "LeaseLost", "SubmitResult", "open_source"]
