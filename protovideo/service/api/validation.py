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
    from generators.plugins import load_all
    from jobmodel.validate import validate_job
    from protovideo.service.webhooks import with_callback_problem
    load_all()   # the plug-in catalogue the job model reads names from (idempotent)
    problems = validate_job(data, base_dir=settings.path("ASSET_ROOT"), asset_root=settings.ASSET_ROOT,
                            default_image_provider=settings.IMAGE_PROVIDER,
                            default_voice_provider=settings.TTS_PROVIDER)
    return with_callback_problem(data, settings, problems)   # its webhook's address policy
