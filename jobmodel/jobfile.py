"""Reading a job from a file or bytes: size and nesting limits, then parse_job."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from jobmodel.errors import JobInvalid
from jobmodel.spec import Job, parse_job
from jobmodel.limits import LIMITS


def _depth(value: Any, level: int = 1) -> int:
    if level > LIMITS.max_json_depth:
        return level
    if isinstance(value, dict):
        return max([_depth(v, level + 1) for v in value.values()] or [level])
    if isinstance(value, list):
        return max([_depth(v, level + 1) for v in value] or [level])
    return level


def decode_job_bytes(data: bytes) -> Any:
    """JSON bytes -> Python value, refusing oversized, non-UTF-8 or too deeply nested input."""
    if len(data) > LIMITS.max_job_json_bytes:
        raise JobInvalid("$", f"the job is {len(data)} bytes; the limit is {LIMITS.max_job_json_bytes}")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise JobInvalid("$", f"the job is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    try:
        value = json.loads(text, parse_constant=_no_constant)
    except RecursionError:
        raise JobInvalid("$", f"JSON nested deeper than {LIMITS.max_json_depth} levels") from None
    except json.JSONDecodeError as exc:
        raise JobInvalid("$", f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except JobInvalid:
        raise
    except ValueError as exc:  # e.g. an integer of more than 4300 digits
        raise JobInvalid("$", f"not valid JSON: {str(exc)[:120]}") from None
    if _depth(value) > LIMITS.max_json_depth:
        raise JobInvalid("$", f"JSON nested deeper than {LIMITS.max_json_depth} levels")
    return value


def _no_constant(name: str) -> Any:
    raise JobInvalid("$", f"not valid JSON: {name} is not a number")


def load_job_file(path: Path | str, settings, base_dir: Path | str | None = None) -> Job:
    """Read and check a job file; relative asset paths resolve against its folder."""
    file = Path(path)
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise JobInvalid("$", f"cannot read job file {file}: {exc.strerror}") from None
    return parse_job(decode_job_bytes(data), base_dir=base_dir or file.resolve().parent,
                     asset_root=settings.ASSET_ROOT if settings else None,
                     default_image_provider=settings.IMAGE_PROVIDER if settings else "simple",
                     default_voice_provider=settings.TTS_PROVIDER if settings else "piper")
