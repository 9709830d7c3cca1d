"""The job source interface (Dramatiq's broker, made small) and a claimed job.

A worker asks its source to `claim` the next job, renews the lease with
`heartbeat` while it works, and ends with exactly one of:

- `complete(claimed, record)`   the job is done; `record` is the result record;
- `fail(claimed, error, retry_in=None)`   the attempt failed; with `retry_in`
  (seconds) the job is queued again for another attempt, without it the job
  is finished as failed (a failure record, never retried);
- `release(claimed)`   hand the job back untouched (the worker is stopping);
  the attempt is not counted.

A job whose worker dies is claimed again by another worker once its lease
(LEASE_SECONDS) has run out, with its attempt count raised.
"""
from __future__ import annotations

import abc
import json
import logging
import os
import socket
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from jobmodel.errors import JobInvalid
from jobmodel.jobfile import decode_job_bytes
from jobmodel.states import JobState

log = logging.getLogger("protovideo.sources")

PRIORITIES = ("critical", "high", "normal", "low")   # highest first


class LeaseLost(RuntimeError):
    """The job's lease ran out and another worker may have taken it."""


@dataclass
class ClaimedJob:
    """One claimed job: its raw data, where it came from, and its attempt count."""

    id: str
    data: Any                      # decoded job JSON (None when it could not be decoded)
    attempts: int                  # this attempt's number, 1 on the first claim
    priority: str = "normal"
    base_dir: Path | None = None   # folder relative asset paths resolve against
    decode_error: BaseException | None = None   # JobInvalid when the bytes were not a job
    handle: Any = None             # source-specific (file name, stream entry id...)
    raw: Any = None                # the job as received, kept when it could not be decoded
    claimed_at: str = ""
    # filled in by the worker while it runs the job
    progress: dict = field(default_factory=dict)   # {"done", "total", "what"}
    cancel: threading.Event = field(default_factory=threading.Event)
    cancel_reason: str = ""        # "timeout", "shutdown" or "lease" once cancel is set
    retry_in: float | None = None  # set by the Retries middleware: try again after this many s

    def request_cancel(self, reason: str) -> None:
        if not self.cancel.is_set():
            self.cancel_reason = reason
            self.cancel.set()


class JobSource(abc.ABC):
    """The interface every job source implements, and what they all share: decoding a
    raw job (`decode_raw_job`), the failure record (`failure_record`) and giving up on a
    job whose workers keep dying (`dead_letter_if_worn_out`)."""

    name = "base"
    max_attempts = 1

    @abc.abstractmethod
    def claim(self) -> ClaimedJob | None:
        """The next job to run (highest priority first), or None when there is none now."""
        ...

    @abc.abstractmethod
    def heartbeat(self, claimed: ClaimedJob) -> None:
        """Renew the lease and publish progress; raise LeaseLost if the lease is gone."""
        ...

    @abc.abstractmethod
    def complete(self, claimed: ClaimedJob, record: dict) -> None:
        ...

    @abc.abstractmethod
    def fail(self, claimed: ClaimedJob, error: dict, retry_in: float | None = None) -> None:
        ...

    @abc.abstractmethod
    def release(self, claimed: ClaimedJob) -> None:
        ...

    def is_drained(self) -> bool:
        """True when nothing is queued, waiting for a retry or in progress (for `run --once`)."""
        return True

    def submit(self, data: dict, priority: str | None = None, base_dir: Path | None = None) -> str:
        """Queue a job (already checked); return its id."""
        raise NotImplementedError(f"the {self.name} source does not accept submissions")

    def status(self, job_id: str | None = None) -> dict:
        """Queue depths, or one job's state (a JobState value, or "unknown")."""
        raise NotImplementedError

    def close(self) -> None:
        pass

    # ------------------------------------------------------------ shared by the sources
    def failure_record(self, claimed: ClaimedJob, error: dict) -> dict:
        """The failure record of SPEC: id, status, error, attempts, job (the raw job
        when it could not be decoded, so nothing the submitter sent is lost)."""
        job = claimed.data if claimed.data is not None else claimed.raw
        return {"id": claimed.id, "status": JobState.FAILED.value, "error": error,
                "attempts": claimed.attempts, "job": job}

    def dead_letter_if_worn_out(self, claimed: ClaimedJob) -> bool:
        """A job claimed again after its workers died more than MAX_ATTEMPTS times is
        failed for good (dead-lettered) instead of run: True when that happened."""
        if claimed.attempts <= self.max_attempts:
            return False
        claimed.attempts -= 1   # this claim is not an attempt
        self.fail(claimed, {"type": "LeaseExpired", "message":
                            f"the job's worker stopped without finishing it {claimed.attempts} "
                            f"times (MAX_ATTEMPTS={self.max_attempts})"})
        log.error("job %s failed (%s source): its workers died %d times", claimed.id, self.name,
                  claimed.attempts)
        return True


def default_worker_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def priority_of(data: Any, default: str = "normal") -> str:
    value = data.get("priority") if isinstance(data, dict) else None
    return value if value in PRIORITIES else default


def decode_raw_job(raw: Any) -> tuple[Any, JobInvalid | None]:
    """(job JSON, None) or (None, JobInvalid) for a raw job: bytes or text as received,
    or JSON an API already decoded; the same size and depth limits as a job file."""
    if not isinstance(raw, (bytes, str)):
        raw = json.dumps(raw)
    try:
        return decode_job_bytes(raw.encode("utf-8") if isinstance(raw, str) else raw), None
    except JobInvalid as exc:
        return None, exc


def write_json_atomic(path: Path, value: Any, mtime: float | None = None) -> None:
    """Write JSON to a hidden temporary file beside `path`, then rename it into place."""
    tmp = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex[:8]}")
    try:
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump(value, handle, indent=1, ensure_ascii=False)
            handle.flush()
            os.fsync(handle.fileno())
        if mtime is not None:
            os.utime(tmp, (mtime, mtime))
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
