"""Job sources: where the worker's jobs come from and where their outcomes go.

Every source has the same small interface (see base.JobSource); `open_source`
picks the one named by the JOB_SOURCE setting.
"""
from __future__ import annotations

from protovideo.service.sources.base import PRIORITIES, ClaimedJob, JobSource, LeaseLost


def open_source(settings, worker_name: str | None = None) -> JobSource:
    """The job source named by settings.JOB_SOURCE (spool, http or redis)."""
    kind = settings.JOB_SOURCE
    if kind == "spool":
        from protovideo.service.sources.spool import SpoolSource
        return SpoolSource(settings, worker_name=worker_name)
    if kind == "http":
        from protovideo.service.sources.http_api import HttpSource
        return HttpSource(settings, worker_name=worker_name)
    if kind == "redis":
        from protovideo.service.sources.redis_streams import RedisSource
        return RedisSource(settings, worker_name=worker_name)
    raise ValueError(f"unknown JOB_SOURCE {kind!r}")


__all__ = ["PRIORITIES", "ClaimedJob", "JobSource", "LeaseLost", "open_source"]
