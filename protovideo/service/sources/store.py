"""What the job store side of a source answers: a job's state, a submission, and its errors.

These are the types the job API (`serve`) and the command line (`list`, `cancel`,
`status`) use; every source that keeps its own jobs (spool, redis) implements the
store methods of `JobSource` with them. The http source is a client of someone
else's job server and does not keep jobs: its store methods raise NotImplementedError.
"""
from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from jobmodel.spec import PRIORITIES, priority_name
from jobmodel.states import JobState


class JobNotFound(KeyError):
    """No job with this id is on record (the API answers 404)."""

    def __init__(self, job_id: str):
        super().__init__(job_id)
        self.job_id = job_id

    def __str__(self) -> str:
        return f"no job {self.job_id!r} on record"


class JobNotCancellable(RuntimeError):
    """The job has already ended (finished, failed or cancelled): the API answers 409."""

    def __init__(self, job_id: str, state: JobState):
        super().__init__(f"job {job_id!r} is already {state.value}; only queued or running "
                         "jobs can be cancelled")
        self.job_id = job_id
        self.state = state


class JobNotRetryable(RuntimeError):
    """The job is not failed or cancelled, or its job data cannot be read: the API answers 409."""

    def __init__(self, job_id: str, reason: str):
        super().__init__(f"job {job_id!r} cannot be retried: {reason}")
        self.job_id = job_id


class BadCursor(ValueError):
    """A list cursor that this source did not hand out (the API answers 400)."""


def progress_view(progress: dict | None = None) -> dict:
    """{"done","total","what","percent"} from the worker's {"done","total","what"}, with its
    "step" and "eta_s" where the worker tells them (protovideo.pipeline.progress), and a split
    job's "pieces" (done, total, cached, by_worker: protovideo.pipeline.split)."""
    progress = progress or {}
    done, total = progress.get("done") or 0, progress.get("total") or 0
    percent = round(100.0 * done / total, 1) if total else 0.0
    view = {"done": done, "total": total, "what": progress.get("what") or "",
            "percent": max(0.0, min(100.0, percent))}
    for key in ("step", "eta_s", "pieces"):
        if key in progress:
            view[key] = progress[key]
    return view


@dataclass
class JobInfo:
    """One job as the store sees it.

    `record` is the result, failure or cancel record once the job has ended;
    `job` the submitted job data (None where the source keeps no copy, e.g. in a list);
    `cancel_requested` is True while a running job waits for its worker to stop;
    `title` the job's title (jobmodel.title), also in lists, None where unknown.
    Times are ISO 8601 UTC strings or None.
    """

    id: str
    state: JobState
    priority: str = "normal"
    attempts: int = 0
    progress: dict = field(default_factory=progress_view)
    submitted_at: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    worker: str | None = None
    retry_pending: bool = False
    cancel_requested: bool = False
    record: dict | None = None
    job: Any = None
    title: str | None = None

    def to_dict(self, with_job: bool = True) -> dict:
        out = {"id": self.id, "state": self.state.value, "priority": self.priority,
               "attempts": self.attempts, "progress": dict(self.progress),
               "submitted_at": self.submitted_at, "started_at": self.started_at,
               "finished_at": self.finished_at, "worker": self.worker,
               "retry_pending": self.retry_pending, "cancel_requested": self.cancel_requested,
               "record": self.record}
        if with_job:
            out["job"] = self.job
        return out


@dataclass(frozen=True)
class SubmitResult:
    """The answer to a submission: `created` is False when an existing job was returned
    (the same Idempotency-Key again, or the id of a job still queued or running)."""

    id: str
    created: bool
    state: JobState


def us_to_iso(us: int) -> str:
    """ISO 8601 UTC (microseconds) of a time in microseconds since the epoch."""
    return datetime.fromtimestamp(us / 1e6, timezone.utc).isoformat(timespec="microseconds")


def encode_cursor(sort_key: int, job_id: str) -> str:
    """An opaque list cursor: the position (submission time in ns, id) after which to go on."""
    return base64.urlsafe_b64encode(f"{sort_key}:{job_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[int, str]:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        sort_key, job_id = text.split(":", 1)
        return int(sort_key), job_id
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise BadCursor(f"not a cursor of this job list: {cursor[:80]!r}") from None


class Page:
    """One page of list_jobs, filled newest first: the items whose state and priority
    pass the filters, at most `limit`; `more` once one more would have passed."""

    def __init__(self, state: JobState | None, priority: str | None, limit: int):
        self.state, self.priority, self.limit = state, priority, limit
        self.items: list = []
        self.more = False

    def offer(self, item, state: JobState, priority: str) -> bool:
        """Take `item` if it passes; False once the page is full (read no further)."""
        if (self.state is not None and state is not self.state) or \
                (self.priority is not None and priority != self.priority):
            return True
        if len(self.items) == self.limit:
            self.more = True
            return False
        self.items.append(item)
        return True


def check_list_args(state, priority, limit) -> tuple[JobState | None, str | None, int]:
    """Normalise list_jobs filters; ValueError names the bad one."""
    if state is not None and not isinstance(state, JobState):
        try:
            state = JobState(state)
        except ValueError:
            raise ValueError(f"state must be one of {', '.join(s.value for s in JobState)}, "
                             f"not {state!r}") from None
    if priority is not None:
        if priority_name(priority) is None:
            raise ValueError(f"priority must be one of {', '.join(PRIORITIES)}, not {priority!r}")
        priority = priority_name(priority)
    limit = int(limit)
    if not 1 <= limit <= 1000:
        raise ValueError(f"limit must be between 1 and 1000, not {limit}")
    return state, priority, limit
