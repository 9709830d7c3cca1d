"""Checking a submitted job before it is queued: every problem, each with its JSON path."""
from __future__ import annotations

from typing import Any

from jobmodel.errors import JobInvalid
from jobmodel.jobfile import decode_job_bytes


def decode_body(raw: bytes) -> tuple[Any, list[dict]]:
    """The request body as JSON, or the problem that stops it being read."""
    try:
        return decode_job_bytes(raw), []
    except JobInvalid as exc:
        return None, [{"field": exc.field or "$", "message": exc.message}]


def job_problems(data: Any, settings) -> list[dict]:
    """[] for a valid job, else [{"field", "message"}, ...] for every problem found."""
    if not isinstance(data, dict):
        return [{"field": "$", "message": "a job is a JSON object"}]
    from protovideo.pipeline.jobcheck import JobChecker
    return JobChecker(settings).problems(data)   # its webhook's address policy included
