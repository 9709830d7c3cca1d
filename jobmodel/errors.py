"""The worker's own errors: what went wrong, and whether trying again can help."""
from __future__ import annotations


class JobInvalid(ValueError):
    """The job itself is wrong; no retry can fix it. `field` is its JSON path."""

    kind = "invalid"

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.message = message

    def to_record(self) -> dict:
        return {"type": "JobInvalid", "message": str(self), "field": self.field}


class JobFailed(RuntimeError):
    """The job was valid but could not be rendered (bad asset, provider error...).

    `scene` is the 0-based scene index when one scene is to blame, `asset` the
    asset reference, `field` its JSON path where there is one.
    """

    kind = "failed"
    retryable = False

    def __init__(self, message: str, *, scene: int | None = None, asset: str | None = None,
                 field: str | None = None):
        super().__init__(message)
        self.message = message
        self.scene = scene
        self.asset = asset
        self.field = field

    def to_record(self) -> dict:
        record = {"type": type(self).__name__, "message": str(self)}
        if self.field:
            record["field"] = self.field
        if self.scene is not None:
            record["scene"] = self.scene
        if self.asset:
            record["asset"] = self.asset
        return record


class TransientError(JobFailed):
    """A failure that may pass (network, HTTP 429/5xx, a busy GPU): worth a retry."""

    retryable = True


class ProviderUnavailable(JobFailed):
    """An optional provider package or model is not installed on this machine."""


class QCFailed(JobFailed):
    """The output failed its check (QC=fail); `qc` is the check's record object."""

    def __init__(self, message: str, qc: dict):
        super().__init__(message)
        self.qc = qc

    def to_record(self) -> dict:
        return {**super().to_record(), "qc": self.qc}


def error_record(exc: BaseException) -> dict:
    """The `error` object of a failure record for any exception."""
    if isinstance(exc, (JobInvalid, JobFailed)):
        return exc.to_record()
    return {"type": type(exc).__name__, "message": str(exc) or type(exc).__name__}


class SceneError(RuntimeError):
    """Scene `index` failed with `error`; `errors` lists every failed scene (index, error)."""

    def __init__(self, index: int, error: BaseException,
                 errors: list[tuple[int, BaseException]] | None = None):
        super().__init__(f"scene {index} failed: {error}")
        self.index = index
        self.error = error
        self.errors = errors or [(index, error)]
