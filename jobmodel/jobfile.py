"""Reading a job from a file or bytes: size, encoding and nesting limits."""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from jobmodel.errors import JobInvalid
from jobmodel.fields import child_path, surrogate_problem
from jobmodel.limits import LIMITS

SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")   # how a lone one gets into JSON


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
    if SURROGATE_ESCAPE.search(text):   # a pair is one character once decoded; a lone one stays
        check_unicode(value)
    return value


def check_unicode(value: Any, path: str = "") -> None:
    """Raise JobInvalid naming the JSON path of the first string (value or key) that holds a
    lone surrogate: JSON text may spell one ("\\ud800"), but it is no Unicode character, and
    the job could never be written as UTF-8 (its spool file, its record, a log line)."""
    stack = [(value, path)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, str):
            if (bad := surrogate_problem(item, where)) is not None:
                raise bad
        elif isinstance(item, dict):
            for key, child in reversed(list(item.items())):
                inner = child_path(where, key)
                if (bad := surrogate_problem(key, inner)) is not None:
                    raise JobInvalid(bad.field, "the field's name " + bad.message)
                stack.append((child, inner))
        elif isinstance(item, list):
            stack.extend((child, child_path(where, i)) for i, child in reversed(list(enumerate(item))))


def _no_constant(name: str) -> Any:
    raise JobInvalid("$", f"not valid JSON: {name} is not a number")


def read_job_file(path: Path | str) -> Any:
    """A job file's JSON (decode_job_bytes' limits); JobInvalid when it cannot be read.
    Checking it is the job checker's (protovideo.pipeline.jobcheck.JobChecker.read)."""
    file = Path(path)
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise JobInvalid("$", f"cannot read job file {file}: {exc.strerror}") from None
    return decode_job_bytes(data)
