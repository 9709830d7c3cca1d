"""Running a queue: /v1/events (live changes, SSE), /v1/workers, POST /v1/jobs/{id}/retry."""
from __future__ import annotations

import json

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sse_starlette import EventSourceResponse

from protovideo.service.api.bodies_system import JOB_ACTION, WorkerList, detail, media
from protovideo.service.api.events import TooManyListeners
from protovideo.service.api.outputs import output_sink
from protovideo.service.api.routes_jobs import eta_model, store_action
from protovideo.service.api.views import job_view
from protovideo.service.middleware.presence import BEAT_S
from protovideo.service.sources.store import JobNotRetryable

router = APIRouter()
PING_S = 15             # a comment line this often keeps proxies from closing a quiet stream
WORKERS_SEEN_S = 300.0  # GET /v1/workers lists the workers seen this recently
ALIVE_S = 3 * BEAT_S    # ... and calls one alive while its last beat is this recent


def hub(request: Request):
    state = request.app.state
    if getattr(state, "events", None) is None:
        from protovideo.service.api.events import JobEvents
        state.events = JobEvents(state.store, eta_model=lambda: eta_model(request))
    return state.events


@router.get("/v1/events", response_class=EventSourceResponse,
            responses={200: media("text/event-stream", "server-sent events: ready, job, queue", binary=False),
                       503: detail("too many listeners; see Retry-After")},
            summary="Live job changes as server-sent events: `event: job`, "
                                  "`data: {id, state, progress, eta_s, ...}`; also `event: queue`")
async def events(request: Request):
    events_hub = hub(request)
    try:
        queue = events_hub.subscribe()
    except TooManyListeners as exc:
        return JSONResponse(status_code=503, headers={"Retry-After": "30"}, content={"detail": str(exc)})

    async def stream():
        try:
            yield {"event": "ready", "data": json.dumps({"poll_s": events_hub.poll_s}), "retry": 3000}
            while True:
                name, data = await queue.get()
                yield {"event": name, "data": json.dumps(data, separators=(",", ":"))}
        finally:
            events_hub.unsubscribe(queue)

    return EventSourceResponse(stream(), ping=PING_S)


@router.get("/v1/workers", responses={200: {"model": WorkerList}}, summary="The workers seen recently: host, current job, last heartbeat")
def workers(request: Request):
    found = request.app.state.store.workers(WORKERS_SEEN_S)
    for worker in found:
        worker["alive"] = worker.get("age_s", 0) <= ALIVE_S
    return JSONResponse({"workers": found, "seen_within_s": WORKERS_SEEN_S, "alive_within_s": ALIVE_S})


@router.post("/v1/jobs/{job_id}/retry", responses=JOB_ACTION,
             summary="Queue a failed or cancelled job again as a new run; 409 for any other state")
def retry_job(request: Request, job_id: str):
    info = store_action(request, job_id, "retry", JobNotRetryable)
    return JSONResponse(job_view(info, eta_model(request), sink=output_sink(request)), headers={"Location": f"/v1/jobs/{job_id}"})
