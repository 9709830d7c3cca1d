"""The answers of the routes other than the job routes, as typed models for `/openapi.json`.

These routes answer with JSONResponse themselves (or with files and streams), so the models are
declared through `responses=` and never validate an answer at run time: they document it. The
non-JSON answers (videos, captions, the event stream) are declared by their media types.
`describe_gate` adds the answers that the middleware gives before routing (app.py): 401 on every
protected route, 413 on every route that takes a body.
"""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from protovideo.service.api.bodies import Detail, JobView

DETAIL_REF = {"$ref": "#/components/schemas/Detail"}


class Health(BaseModel):
    """GET /health: 200 while the worker takes jobs, 503 (the same body) when not."""
    taking_jobs: bool
    memory: dict[str, Any] = Field(description="rss_mb, gpu_mb, level, paused, ... (the memory watch)")
    jobs: dict[str, int] = Field(description="jobs ended by this process, per final state")
    jobs_in_progress: int
    uptime_s: float


class LoginAnswer(BaseModel):
    ok: bool
    auth: bool = Field(description="false: this server asks for no token (no cookie is set)")


class LogoutAnswer(BaseModel):
    ok: bool


class SessionState(BaseModel):
    auth: bool = Field(description="whether this server asks for a token")
    signed_in: bool = Field(description="whether this request carries the token or a live session")


class QueueView(BaseModel):
    """The job source's depths (extra fields name the source: spool_dir, prefix, dead_letter...)."""
    model_config = ConfigDict(extra="allow")
    source: str = Field(description="spool or redis")
    queued: dict[str, int] = Field(description="jobs waiting, per priority")
    queued_total: int
    retry_pending: int
    started: int
    in_progress: int
    finished: int
    failed: int
    cancelled: int


class SystemView(BaseModel):
    memory: dict[str, Any] = Field(description="the memory watch's state and `process` (the API's mode)")
    cache: dict[str, Any] = Field(description="{enabled: false}, the cache's counts, or {error}")
    source: QueueView
    version: str


class Worker(BaseModel):
    """A worker's heartbeat (extra fields: what the worker tells, e.g. host, job, pid)."""
    model_config = ConfigDict(extra="allow")
    name: str
    last_heartbeat: str = Field(description="ISO 8601")
    age_s: float
    alive: bool


class WorkerList(BaseModel):
    workers: list[Worker]
    seen_within_s: float
    alive_within_s: float


class Uploaded(BaseModel):
    """POST /v1/assets: 201, the stored file; `path` goes into a job's image, video, narration or music."""
    path: str = Field(description="uploads/<sha256>.<ext>, relative to ASSET_ROOT")
    kind: str = Field(description="image, video or audio")
    sha256: str
    bytes: int
    width: int | None = None
    height: int | None = None
    duration_s: float | None = None


class Elsewhere(BaseModel):
    """404: no such job, or not finished; or the file is not on this machine (then `location` says
    where the record has it, and `worker` which worker wrote it)."""
    detail: str
    location: str | None = None
    worker: str | None = None


class TaskStatus(BaseModel):
    """The original service's task status."""
    task_id: str
    status: str = Field(description="queued, inprogress, finished or failed")
    result: dict[str, str] | None = Field(None, description="finished: {download_url}")
    error: str | None = Field(None, description="failed: the reason")


class TaskNotFound(BaseModel):
    error: str


def detail(description: str) -> dict:
    """A `responses=` entry answered {"detail": ...}."""
    return {"model": Detail, "description": description}


def media(media_type: str, description: str, binary: bool = True) -> dict:
    """A `responses=` entry of a file or stream answer (not JSON)."""
    schema = {"type": "string", "format": "binary"} if binary else {"type": "string"}
    return {"description": description, "content": {media_type: {"schema": schema}}}


NOT_FOUND = {404: detail("no such job, or not finished, or no such file here")}
STORED = {307: {"description": "on S3 (OUTPUT_STORE): a redirect to a presigned URL"}}
JOB_ACTION = {200: {"model": JobView}, 404: detail("no job with this id"),
              409: detail("the job's state does not allow it")}


def describe_gate(schema: dict, public: frozenset[str]) -> dict:
    """401 (the token gate) on every route not in `public`, 413 (the body bound) on every route
    with a body: both answered {"detail"} before routing."""
    for path, methods in schema.get("paths", {}).items():
        for operation in methods.values():
            answers = operation.setdefault("responses", {})
            if path not in public:
                answers.setdefault("401", {"description": "missing or wrong API token (WWW-Authenticate: Bearer)",
                                           "content": {"application/json": {"schema": DETAIL_REF}}})
            if "requestBody" in operation:
                answers.setdefault("413", {"description": "the body is larger than the limit",
                                           "content": {"application/json": {"schema": DETAIL_REF}}})
    return schema
