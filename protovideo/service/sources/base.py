"""The job source interface (Dramatiq's broker, made small) and a claimed job.

A worker asks its source to `claim` the next job, renews the lease with
`heartbeat` while it works, and ends with exactly one of:

- `complete(claimed, record)`   the job is done; `record` is the result record;
- `fail(claimed, error, retry_in=None)`   the attempt failed; with `retry_in`
  (seconds) the job is queued again for another attempt, without it the job
  is finished as failed (a failure record, never retried);
- `release(claimed)`   hand the job back untouched (the worker is stopping);
  the attempt is not counted;
- `record_cancelled(claimed, record)`   the job was cancelled while it ran
  (someone called `cancel`): a cancel record, never retried, no output.

A job whose worker dies is claimed again by another worker once its lease
(LEASE_SECONDS) has run out, with its attempt count raised.

The job store side, used by the job API and the command line (spool and redis;
the http source is only a client of another job server and raises
NotImplementedError for these):

- `submit(data, priority, base_dir, idempotency_key) -> SubmitResult`
- `get(job_id, with_job=True) -> JobInfo | None`   (without the job: its brief only)
- `list_jobs(state, priority, limit, cursor) -> (list[JobInfo], next_cursor | None)`
- `cancel(job_id) -> JobInfo`
- `retry(job_id) -> JobInfo`   a failed or cancelled job queued again (a new run)
- `status(job_id=None) -> dict`   queue depths (or one job, as a dict)

Workers announce themselves (presence.py; the WorkerPresence middleware beats):
`worker_seen(name, info)`, `worker_gone(name)`, `workers(within_s) -> [dict]`.

States are jobmodel.states.JobState: queued, started, finished, failed, cancelled.
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
from typing import Any, Callable

from jobmodel.errors import JobInvalid
from jobmodel.fields import SURROGATE
from jobmodel.files import write_json_atomic  # noqa: F401 - the spool's records are written with it
from jobmodel.jobfile import decode_job_bytes
from jobmodel.spec import PRIORITIES, priority_name   # highest first
from jobmodel.states import JobState
from protovideo.runtime.secrets import scrub
from protovideo.service.sources.store import (BadCursor, JobInfo, JobNotCancellable,  # noqa: F401
                                              JobNotFound, JobNotRetryable, SubmitResult)

log = logging.getLogger("protovideo.sources")


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
    cancel_reason: str = ""        # "timeout", "shutdown", "lease" or "cancelled" once cancel is set
    cancel_error: BaseException | None = None   # the failure to record for a cancelled job
    retry_in: float | None = None  # set by the Retries middleware: try again after this many s

    def job_data(self) -> Any:
        """The job's JSON as submitted (the raw job when it could not be decoded)."""
        return self.data if self.data is not None else self.raw

    def request_cancel(self, reason: str, error: BaseException | None = None) -> None:
        """Stop the job; `error` (e.g. TimeLimit's JobTimeout) becomes its failure."""
        if not self.cancel.is_set():
            self.cancel_reason = reason
            self.cancel_error = error
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

    def record_cancelled(self, claimed: ClaimedJob, record: dict) -> None:
        """The running job stopped because it was cancelled: keep `record` (a cancel record,
        see `cancel_record`) as its final record; the job is never retried.
        Sources without a cancelled state record it as a failure."""
        self.fail(claimed, record.get("error") or {"type": "Cancelled", "message": "cancelled"})

    def is_drained(self) -> bool:
        """True when nothing is queued, waiting for a retry or in progress (for `run --once`)."""
        return True

    # ------------------------------------------------------------ the job store
    def submit(self, data: dict, priority: str | None = None, base_dir: Path | None = None,
               idempotency_key: str | None = None) -> SubmitResult:
        """Queue a job (already checked) and say which job it became.

        `data["id"]` is kept when given, else an id is assigned. Never queues a duplicate:
        - the same `idempotency_key` as an earlier submission (kept 24 h) returns that
          submission's job, whatever its state now;
        - the id of a job that is queued or started returns that job.
        In both cases `created` is False and nothing is queued. The id of a job that
        has ended (finished, failed, cancelled) is queued again as a new run.
        `priority` overrides the job's own; `base_dir` is the folder relative asset
        paths resolve against (the job file's folder for `submit JOB.json`).
        """
        raise NotImplementedError(f"the {self.name} source does not accept submissions")

    def get(self, job_id: str, with_job: bool = True) -> JobInfo | None:
        """One job (with its record, and its job data `with_job`), or None when no such job is
        on record. Without the job data only the job's brief is read, never its whole body."""
        raise NotImplementedError(f"the {self.name} source keeps no jobs of its own")

    def list_jobs(self, state: JobState | str | None = None, priority: str | None = None,
                  limit: int = 50, cursor: str | None = None) -> tuple[list[JobInfo], str | None]:
        """Jobs newest submission first, optionally only one state and/or priority.

        Returns at most `limit` (1..1000) jobs and a cursor for the next page (None at
        the end); pass it back as `cursor`. The jobs' `job` data is left out (None).
        Raises ValueError for a bad filter and BadCursor for a cursor not handed out here.
        """
        raise NotImplementedError(f"the {self.name} source keeps no jobs of its own")

    def cancel(self, job_id: str) -> JobInfo:
        """Cancel a job and return it as it is now.

        queued  -> cancelled at once (a cancel record; no worker will take it);
        started -> the state stays `started` with `cancel_requested` True until the
                   worker sees the request on its next heartbeat (at most 1.5 s later) and
                   stops: then `cancelled`, no output, never retried;
        finished/failed/cancelled -> JobNotCancellable (the API's 409);
        unknown id -> JobNotFound (the API's 404).
        """
        raise NotImplementedError(f"the {self.name} source keeps no jobs of its own")

    def retry(self, job_id: str) -> JobInfo:
        """Queue a failed or cancelled job again, as a new run of the same id and job (the
        submitter's folder and priority kept); its record stays until the new run ends.
        Unknown id -> JobNotFound; queued, started or finished, or a job that could not be
        read as JSON -> JobNotRetryable (the API's 409)."""
        info = self.get(job_id)
        if info is None:
            raise JobNotFound(job_id)
        if info.state not in (JobState.FAILED, JobState.CANCELLED):
            raise JobNotRetryable(job_id, f"it is {info.state.value}; only failed or cancelled "
                                          "jobs can be retried")
        record = info.record if isinstance(info.record, dict) else {}
        job = info.job if isinstance(info.job, dict) else record.get("job")
        if not isinstance(job, dict):
            raise JobNotRetryable(job_id, "its job is not readable JSON; submit a corrected job")
        base_dir = record.get("base_dir")
        result = self.submit({**job, "id": job_id}, priority=info.priority,
                             base_dir=Path(base_dir) if isinstance(base_dir, str) and base_dir else None)
        log.info("job %s queued again by a retry (was %s)", job_id, info.state.value)
        return self.get(result.id, with_job=False) or JobInfo(result.id, result.state)

    # ------------------------------------------------------------ workers
    def worker_seen(self, name: str, info: dict) -> None:
        """Record that worker `name` is alive now (`info`: host, pid, state, jobs...)."""

    def worker_gone(self, name: str) -> None:
        """Worker `name` stopped: it leaves the list at once."""

    def workers(self, within_s: float) -> list[dict]:
        """The workers seen in the last `within_s` seconds, most recent first; each the `info`
        its worker gave, with `name` and `last_heartbeat` (ISO 8601)."""
        return []

    def status(self, job_id: str | None = None) -> dict:
        """Queue depths; or one job as a dict (JobInfo.to_dict), state "unknown" when absent."""
        if job_id is None:
            raise NotImplementedError
        info = self.get(job_id, with_job=False)   # its brief: the job may be megabytes
        return {"id": job_id, "state": "unknown"} if info is None else info.to_dict(with_job=False)

    # ------------------------------------------------------------ final-state listeners
    def add_final_listener(self, listener: Callable[[str, dict], None]) -> None:
        """Call `listener(event, record)` whenever this process ends a job: event is
        "job.finished", "job.failed" or "job.cancelled", record the final record
        (for webhooks). A listener's error is logged and never stops the source."""
        self.__dict__.setdefault("_final_listeners", []).append(listener)

    def _notify_final(self, state: JobState, record: dict) -> None:
        for listener in self.__dict__.get("_final_listeners", ()):
            try:
                listener(f"job.{state.value}", record)
            except Exception:
                log.exception("final-state listener %r failed", listener)

    def close(self) -> None:
        pass

    # ------------------------------------------------------------ shared by the sources
    def failure_record(self, claimed: ClaimedJob, error: dict) -> dict:
        """The failure record of SPEC: id, status, error, attempts, job (the raw job
        when it could not be decoded, so nothing the submitter sent is lost); known
        secrets are redacted."""
        job = claimed.job_data()
        return scrub({"id": claimed.id, "status": JobState.FAILED.value, "error": error,
                      "attempts": claimed.attempts, "job": job})   # no secret in a record

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
    """The job's priority by the job model's rule (jobmodel.spec.priority_name); `default` when
    it has none or none the rule knows (the job's check then refuses it, naming the field)."""
    value = data.get("priority") if isinstance(data, dict) else None
    return priority_name(value) or default


def decode_raw_job(raw: Any) -> tuple[Any, JobInvalid | None]:
    """(job JSON, None) or (None, JobInvalid) for a raw job: bytes or text as received,
    or JSON an API already decoded; the same size and depth limits as a job file."""
    if not isinstance(raw, (bytes, str)):
        raw = json.dumps(raw)   # ASCII: a lone surrogate becomes its escape, refused below
    if isinstance(raw, str):    # text another program handed over may hold a lone surrogate itself
        raw = SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", raw).encode("utf-8")
    try:
        return decode_job_bytes(raw), None
    except JobInvalid as exc:
        return None, exc


def cancel_record(job_id: str, was: str, attempts: int, job: Any, **extra) -> dict:
    """The cancel record (SPOOL_DIR/cancelled/<id>.json): id, status "cancelled", the state
    the job was in when cancelled (`was`: queued or started), attempts, finished_at, job."""
    return {"id": job_id, "status": "cancelled", "was": was, "attempts": attempts,
            "finished_at": now_iso(), **extra, "job": job}
