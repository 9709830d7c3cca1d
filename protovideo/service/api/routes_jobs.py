"""/v1/jobs: submit (with idempotency), list, one job, cancel; /v1/validate."""
from __future__ import annotations

import re

from fastapi import APIRouter, Header, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from jobmodel.spec import ID_RE, PRIORITIES, priority_name
from protovideo.service.api.bodies import Detail, JobCreated, JobList, JobView, Problems, Verdict, job_body
from protovideo.service.api.outputs import output_sink
from protovideo.service.api.search import search_jobs
from protovideo.service.api.validation import decode_body, job_problems
from protovideo.service.api.views import job_links, job_view
from protovideo.service.sources.store import BadCursor, JobNotCancellable, JobNotFound

router = APIRouter()
KEY_RE = re.compile(r"^[\x21-\x7e]{1,200}$")   # printable ASCII, no spaces
SUBMITTED = {201: {"model": JobCreated, "description": "queued"},
             200: {"model": JobView, "description": "the job already there (same Idempotency-Key, or its id "
                                                   "queued or running): nothing new queued"},
             400: {"model": Problems, "description": "every problem of the job, each with its JSON path"}}


def eta_model(request: Request):
    state = request.app.state
    if getattr(state, "eta", None) is None:
        from protovideo.service.api.eta import EtaModel
        state.eta = EtaModel(state.settings, state.store)
    return state.eta


def job_or_404(request: Request, job_id: str, with_job: bool = False):
    """The job as the store has it (its job data only `with_job`: the job may be megabytes);
    404 for an id that is malformed or not on record."""
    info = request.app.state.store.get(job_id, with_job=with_job) if ID_RE.match(job_id) else None
    if info is None:
        raise HTTPException(status_code=404, detail=f"no job {job_id!r} on record")
    return info


@router.post("/v1/jobs", status_code=201, responses=SUBMITTED, openapi_extra=job_body("a job (docs/JOB_FORMAT.md)"),
             summary="Queue a job: 201 new, 200 the existing job (same Idempotency-Key, or its id queued/running), "
                     "400 with every problem")
async def submit(request: Request, idempotency_key: str | None = Header(default=None),
                 priority: str | None = Query(default=None, description="overrides the job's own priority")):
    data, problems = decode_body(await request.body())
    if priority is not None:   # ?priority= by the job model's rule, as the job's own field
        if priority_name(priority) is None:
            problems.append({"field": "priority",
                             "message": f"must be one of {', '.join(PRIORITIES)}, got {priority!r:.60}"})
        priority = priority_name(priority)
    if idempotency_key is not None and not KEY_RE.match(idempotency_key):
        problems.append({"field": "Idempotency-Key",
                         "message": "must be 1-200 printable ASCII characters without spaces"})
    if not problems:
        problems = await run_in_threadpool(job_problems, data, request.app.state.settings)
    if problems:
        return JSONResponse(status_code=400, content={"errors": problems})
    return await run_in_threadpool(_submit, request, data, priority, idempotency_key)


def _submit(request: Request, data: dict, priority: str | None, key: str | None):
    store = request.app.state.store
    result = store.submit(data, priority=priority, idempotency_key=key)
    if result.created:
        state = getattr(result.state, "value", result.state)
        return JSONResponse(status_code=201, headers={"Location": f"/v1/jobs/{result.id}"},
                            content={"id": result.id, "state": state,
                                     "links": job_links(result.id, state, None)})
    info = store.get(result.id)
    body = job_view(info, eta_model(request), sink=output_sink(request)) if info is not None else {"id": result.id}
    return JSONResponse(status_code=200, content=body)


@router.post("/v1/validate", response_model=Verdict, openapi_extra=job_body("a job to check"),
             responses={400: {"model": Problems, "description": "a query or header refused"}},
             summary="Check a job without queueing it: {valid, errors}")
async def validate(request: Request):
    data, problems = decode_body(await request.body())
    if not problems:
        problems = await run_in_threadpool(job_problems, data, request.app.state.settings)
    return {"valid": not problems, "errors": problems}


@router.get("/v1/jobs", responses={200: {"model": JobList}, 400: {"model": Detail}}, summary="Jobs, newest first: {jobs, next_cursor}; q= finds ids and titles")
def list_jobs(request: Request, state: str | None = None, priority: str | None = None,
              limit: int = Query(default=50, ge=1, le=1000), cursor: str | None = None,
              q: str | None = Query(default=None, max_length=200,
                                    description="words that the job's id or title contains")):
    store, extra = request.app.state.store, {}
    try:
        if q and q.strip():
            infos, next_cursor, extra["scanned"] = search_jobs(store, q, state=state or None,
                                                               priority=priority or None, limit=limit,
                                                               cursor=cursor or None)
        else:
            infos, next_cursor = store.list_jobs(state=state or None, priority=priority or None,
                                                 limit=limit, cursor=cursor or None)
    except (ValueError, BadCursor) as exc:
        raise HTTPException(status_code=400, detail=str(exc)) from None
    model = eta_model(request)
    # JSONResponse directly: FastAPI's generic encoder would cost more than the lookup itself. No URLs
    # are presigned for a list (about 1 ms each, 7 a job): its links are the job API's routes
    return JSONResponse({"jobs": [job_view(info, model) for info in infos], "next_cursor": next_cursor,
                         **extra})


@router.get("/v1/jobs/{job_id}", responses={200: {"model": JobView}, 404: {"model": Detail}}, summary="One job: state, priority, attempts, progress, eta_s, record, links")
def get_job(request: Request, job_id: str, with_job: bool = False):
    from protovideo.service.api.routes_batches import batch_id_of
    view = job_view(job_or_404(request, job_id, with_job), eta_model(request), with_job=with_job,
                    sink=output_sink(request))
    batch_id = batch_id_of(request, job_id)
    if batch_id:
        view["batch_id"] = batch_id      # the dashboard's job detail shows its batch's counts
    return JSONResponse(view)


@router.delete("/v1/jobs/{job_id}", responses={200: {"model": JobView}, 404: {"model": Detail},
                                              409: {"model": Detail}},
               summary="Cancel: queued jobs at once, running ones within seconds; 409 once ended")
def cancel_job(request: Request, job_id: str):
    return JSONResponse(job_view(store_action(request, job_id, "cancel", JobNotCancellable), eta_model(request)))


def store_action(request: Request, job_id: str, action: str, refused: type[Exception]):
    """The store's `action` (cancel, retry) on one job: 404 for an unknown id, 409 when `refused`."""
    if not ID_RE.match(job_id):
        raise HTTPException(status_code=404, detail=f"no job {job_id!r} on record")
    try:
        return getattr(request.app.state.store, action)(job_id)
    except JobNotFound as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from None
    except refused as exc:
        raise HTTPException(status_code=409, detail=str(exc)) from None
