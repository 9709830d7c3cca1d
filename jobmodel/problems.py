"""Every problem of a job at once: a collector the readers report into.

Outside `collecting()`, `problem(exc)` simply raises: parse_job stops at the
first problem, as a worker wants. Inside it (validate_job, the `validate`
command, the job API's 400 answer), each problem is noted and parsing goes on
with a default in place of the bad value, so one pass finds them all.
"""
from __future__ import annotations

import contextlib
from contextvars import ContextVar
from typing import Any, Callable, Iterator

from jobmodel.errors import JobInvalid

_found: ContextVar[list[JobInvalid] | None] = ContextVar("job_problems", default=None)


def problem(exc: JobInvalid) -> None:
    """Report one problem: raise it, or note it while collecting."""
    found = _found.get()
    if found is None:
        raise exc
    found.append(exc)


def is_collecting() -> bool:
    """Inside collecting(): problems are noted, not raised."""
    return _found.get() is not None


def attempt(read: Callable[..., Any], *args: Any, default: Any = None) -> Any:
    """read(*args), or `default` after reporting the JobInvalid it raised."""
    try:
        return read(*args)
    except JobInvalid as exc:
        problem(exc)
        return default


@contextlib.contextmanager
def collecting() -> Iterator[list[JobInvalid]]:
    """Note problems instead of raising them, in the list this yields."""
    found: list[JobInvalid] = []
    token = _found.set(found)
    try:
        yield found
    finally:
        _found.reset(token)


def unique(found: list[JobInvalid]) -> list[JobInvalid]:
    """One problem per field (the first); later ones for that field follow from the default
    that stood in for the bad value."""
    seen: set[str] = set()
    out = []
    for exc in found:
        key = exc.field or "$"
        if key not in seen:
            seen.add(key)
            out.append(exc)
    return out
