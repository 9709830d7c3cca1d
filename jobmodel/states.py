"""Job states and job outcomes as enums (SPEC: "Job states: queued, started, finished,
failed, cancelled").

    JobState   where a job is in its life, as the sources store and report it
    Outcome    how one attempt ended, as the metrics count it (label `outcome`)

Both are `str` enums, so `JobState.QUEUED == "queued"` and they serialise to JSON
as their plain value (`json.dumps(JobState.QUEUED)` -> '"queued"').
"""
from __future__ import annotations

from enum import Enum


class JobState(str, Enum):
    QUEUED = "queued"
    STARTED = "started"
    FINISHED = "finished"
    FAILED = "failed"
    CANCELLED = "cancelled"

    def __str__(self) -> str:
        return self.value

    @property
    def is_final(self) -> bool:
        """Finished, failed and cancelled jobs never run again."""
        return self in (JobState.FINISHED, JobState.FAILED, JobState.CANCELLED)


class Outcome(str, Enum):
    DONE = "done"            # rendered, output written
    INVALID = "invalid"      # the job itself is wrong (JobInvalid)
    TRANSIENT = "transient"  # a failure worth a retry (TransientError, time limit)
    FAILED = "failed"        # any other failure
    CANCELLED = "cancelled"  # stopped by a cancel request

    def __str__(self) -> str:
        return self.value
