"""/v1/batches: a template and its rows -> one job per row; a batch's state from its jobs.

    POST /v1/batches  {"template": JOB, "rows": [{...}, ...], "batch_callback_url"?, "priority"?}
        201 {"id", "jobs": [ids], "links"}; 400 {"errors": [{"row", "field", "message"}]} with every
        problem of every row (nothing is queued then)
    GET /v1/batches/{id}   {"id", "state", "counts", "jobs": [{"id", "state", ...}], "created_at"}
"""
from __future__ import annotations

from typing import Literal, Optional

from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from jobmodel.batch_rows import MAX_BATCH_ROWS
from jobmodel.errors import JobInvalid
from jobmodel.spec import PRIORITIES, priority_name
from protovideo.service.api.bodies import Detail
from protovideo.service.api.validation import decode_body
from protovideo.service.batch_store import open_batch_store
from protovideo.service.batches import batch_view, plan_batch, submit_batch

router = APIRouter()
BATCH_KEYS = ("template", "rows", "batch_callback_url", "priority")
BATCH_BODY = {"requestBody": {"required": True, "content": {"application/json": {"schema": {
    "type": "object", "required": ["template", "rows"],
    "properties": {
        "template": {"type": "object", "description": "a job whose strings may hold {{name}} placeholders"},
        "rows": {"type": "array", "maxItems": MAX_BATCH_ROWS, "items": {"type": "object"},
                 "description": "one object of variable values per job; `id` names the job"},
        "batch_callback_url": {"type": "string", "format": "uri",
                               "description": "POSTed {batch_id, counts, jobs} once every job has ended"},
        "priority": {"type": "string", "enum": list(PRIORITIES)}}}}}}}


class BatchProblem(BaseModel):
    row: Optional[int] = None      # counted from 1 (after a CSV header); null: the body's own problem
    field: str
    message: str


class BatchErrors(BaseModel):
    errors: list[BatchProblem]


class BatchCreated(BaseModel):
    id: str
    jobs: list[str]
    links: dict[str, str]


class BatchJob(BaseModel):
    id: str
    state: str
    download_url: Optional[str] = None
    error: Optional[dict] = None


class BatchView(BaseModel):
    id: str
    state: Literal["queued", "started", "ended"]
    counts: dict[str, int]
    jobs: list[BatchJob]
    created_at: Optional[str] = None


def _store(request: Request):
    state = request.app.state
    if getattr(state, "batches", None) is None:
        try:
            state.batches = open_batch_store(state.settings, state.store)
        except ValueError as exc:
            raise HTTPException(status_code=501, detail=str(exc)) from None
    return state.batches


def batch_id_of(request: Request, job_id: str) -> str | None:
    """The batch a job belongs to (GET /v1/jobs/{id} shows it; the dashboard then shows the batch)."""
    try:
        return _store(request).batch_of(job_id)
    except Exception:   # noqa: BLE001 - no batch store here (http source), or Redis away: no batch shown
        return None


def _body_problems(data) -> list[dict]:
    if not isinstance(data, dict):
        return [{"row": None, "field": "$", "message": "must be an object: {template, rows, batch_callback_url?}"}]
    problems = [{"row": None, "field": k, "message": f"unknown field; a batch has {', '.join(BATCH_KEYS)}"}
                for k in data if k not in BATCH_KEYS]
    for name in ("template", "rows"):
        if name not in data:
            problems.append({"row": None, "field": name, "message": "is required"})
    priority = data.get("priority")
    if priority is not None and priority_name(priority) is None:   # the job model's rule, as ?priority=
        problems.append({"row": None, "field": "priority",
                         "message": f"must be one of {', '.join(PRIORITIES)}, got {priority!r:.60}"})
    return problems


def _plan_and_submit(request: Request, data: dict):
    settings = request.app.state.settings
    from protovideo.pipeline.jobcheck import JobChecker
    from protovideo.service.webhooks import check_callback_url
    problems = []
    callback = ""
    if data.get("batch_callback_url") not in (None, ""):
        try:
            callback = check_callback_url(data["batch_callback_url"], settings, "batch_callback_url")
        except JobInvalid as exc:
            problems.append({"row": None, "field": exc.field, "message": exc.message})
    store = _store(request)
    plan = plan_batch(data["template"], data["rows"], JobChecker(settings))
    problems += plan.errors
    if problems:
        return JSONResponse(status_code=400, content={"errors": problems})
    priority = priority_name(data["priority"]) if data.get("priority") is not None else None
    batch = submit_batch(plan, request.app.state.store, store, callback_url=callback, priority=priority)
    return JSONResponse(status_code=201, headers={"Location": f"/v1/batches/{batch['id']}"},
                        content={"id": batch["id"], "jobs": batch["jobs"],
                                 "links": {"self": f"/v1/batches/{batch['id']}"}})


@router.post("/v1/batches", status_code=201, openapi_extra=BATCH_BODY, response_model=BatchCreated,
             responses={400: {"model": BatchErrors, "description": "every problem of every row; nothing queued"},
                       501: {"model": Detail, "description": "this job source keeps no batches"}},
             summary="Queue a batch: one job per row of a template; 400 with every row's problems, nothing queued")
async def create_batch(request: Request):
    data, problems = decode_body(await request.body())
    if not problems:
        problems = _body_problems(data)
    if problems:
        return JSONResponse(status_code=400, content={"errors": [{"row": None, **p} if "row" not in p else p
                                                                 for p in problems]})
    return await run_in_threadpool(_plan_and_submit, request, data)


@router.get("/v1/batches/{batch_id}", response_model=BatchView,
            responses={404: {"model": Detail, "description": "no batch with this id"},
                       501: {"model": Detail, "description": "this job source keeps no batches"}}, summary="A batch: state (queued, started, ended), counts per job state, jobs")
def get_batch(request: Request, batch_id: str):
    batch = _store(request).get(batch_id)
    if batch is None:
        raise HTTPException(status_code=404, detail=f"no batch {batch_id!r} on record")
    return JSONResponse(batch_view(batch, request.app.state.store))
