"""The bodies of the job routes as typed models, for the OpenAPI description (`/openapi.json`).

The request body of POST /v1/jobs, /v1/validate, /generate and /generate-task is a job: its
schema is the job format's own (jobmodel.schema.job_json_schema, also at GET /v1/schema/job.json),
put into the description's components when it is made (`describe_jobs`). The routes read the body
themselves, so that a bad job is answered 400 with every problem (`Problems`), never FastAPI's 422;
`describe_jobs` also puts that 400 where FastAPI would declare 422.
"""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

JOB_REF = {"$ref": "#/components/schemas/Job"}
JOB_ROUTES = ("/v1/jobs", "/v1/validate", "/generate", "/generate-task")


class Problem(BaseModel):
    field: str = Field(description="the JSON path of the value, e.g. scenes[2].duration; $ the whole body")
    message: str


class Problems(BaseModel):
    """400: the job (or the request) is invalid; every problem at once, one a field."""
    errors: list[Problem]
    detail: str | None = Field(None, description="the first problem in words (a query or header refused)")


class JobCreated(BaseModel):
    id: str
    state: str = Field(description="queued")
    links: dict[str, str]


class JobView(BaseModel):
    """A job as GET /v1/jobs/{id} shows it (200: the job was there already)."""
    model_config = ConfigDict(extra="allow")
    id: str
    state: str = Field(description="queued, started, finished, failed or cancelled")
    priority: str | None = None
    attempts: int | None = None
    progress: dict[str, Any] | None = None
    eta_s: float | None = None
    record: dict[str, Any] | None = None
    links: dict[str, str] = {}
    batch_id: str | None = Field(None, description="only for a job of a batch (POST /v1/batches)")


class JobList(BaseModel):
    jobs: list[JobView]
    next_cursor: str | None = Field(None, description="pass it back as `cursor` for the next page")
    scanned: int | None = Field(None, description="with q=: how many jobs this answer looked at")


class Verdict(BaseModel):
    """POST /v1/validate: valid, or every problem (the job is never queued)."""
    valid: bool
    errors: list[Problem]


class Detail(BaseModel):
    detail: str
    job_id: str | None = None


class Generated(BaseModel):
    """The original service's answer to POST /generate."""
    download_url: str
    generation_time: str = Field(description='"1m 5s"')
    job_id: str | None = None


class TaskQueued(BaseModel):
    task_id: str
    status: str = "queued"


def job_body(description: str) -> dict:
    """`openapi_extra` of a route whose body is a job."""
    return {"requestBody": {"required": True, "description": description,
                            "content": {"application/json": {"schema": JOB_REF}}}}


def describe_jobs(schema: dict) -> dict:
    """The OpenAPI description with the job format's models in its components, and 400 with the
    problems where FastAPI would say 422 (this API answers a bad request 400, never 422)."""
    from generators.plugins import load_all
    from jobmodel.schema import job_models
    load_all()
    job = job_models().Job.model_json_schema(ref_template="#/components/schemas/{model}")
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components.update(job.pop("$defs", {}))
    components["Job"] = job
    for methods in schema.get("paths", {}).values():
        for operation in methods.values():
            answers = operation.get("responses", {})
            if "422" in answers:
                del answers["422"]
                answers.setdefault("400", {"description": "Invalid request", "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/Problems"}}}})
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    if "Problems" not in components:
        problems = Problems.model_json_schema(ref_template="#/components/schemas/{model}")
        components.update(problems.pop("$defs", {}))
        components["Problems"] = problems
    return schema
