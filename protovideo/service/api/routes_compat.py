"""The original ProtoVideo service's endpoints, so its clients work unchanged.

    POST /generate            the original request; answered when the video is ready:
                              200 {"download_url", "generation_time"}; 400 {"detail"} for an invalid
                              request or an asset that cannot be fetched; 500 {"detail"} when rendering
                              fails; 504 {"detail"} after API_GENERATE_TIMEOUT (the job goes on)
    GET  /download/{filename} the finished video (video/mp4)
    POST /generate-task       queue it: {"task_id", "status": "queued"}
    GET  /task-status/{id}    {"task_id", "status": queued|inprogress|finished|failed, "result"|"error"}

/generate queues the job on the job source like any other and waits for its final
state without holding a thread (waiting.JobEndWatch; a client that disconnects stops the
wait, and the job goes on and stays downloadable): a worker renders it (the one inside `run --serve`, or any worker process on
the same source when the API runs as `serve`). The output is named
<random hex>_<output_filename>, as the original service names its files; a request without an
`id` gets that hex as its job id, so `/download/<file name>` finds its job when the file is on S3
(OUTPUT_STORE: answered by a 307 to a presigned URL, and /generate's `download_url` is that URL).
"""
from __future__ import annotations

import logging
import re
import time
import uuid
from pathlib import Path

from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, JSONResponse, Response

from jobmodel.spec import ID_RE
from jobmodel.states import JobState
from protovideo.runtime.secrets import redact
from protovideo.service.api.bodies import Detail, Generated, TaskQueued, job_body
from protovideo.service.api.bodies_system import STORED, TaskNotFound, TaskStatus, detail, media
from protovideo.service.api.outputs import fresh_urls, from_store, output_sink, record_files
from protovideo.service.api.routes_files import plain_file_name, servable
from protovideo.service.api.validation import decode_body, job_problems
from protovideo.service.api.waiting import ClientLeft, state_of

log = logging.getLogger("protovideo.api")
router = APIRouter()
ORIGINAL_BODY = job_body("the original service's request (output_filename, narration_text, scenes): a job")
ANSWERS = {400: {"model": Detail, "description": "an invalid request (every problem in the detail) or an asset "
                                                 "that cannot be fetched"},
           500: {"model": Detail, "description": "rendering failed"},
           504: {"model": Detail, "description": "not ready after API_GENERATE_TIMEOUT; the job goes on"}}
TASK_STATUS = {"queued": "queued", "started": "inprogress", "finished": "finished",
               "failed": "failed", "cancelled": "failed"}


def _invalid_detail(problems: list[dict]) -> str:
    """The original's wording where it had one ("Unknown scene type: ..."), then every problem."""
    listed = "; ".join(f"{p['field']}: {p['message']}" for p in problems)
    for p in problems:
        if re.fullmatch(r"scenes\[\d+\]\.type", p["field"]):
            got = re.search(r"got (.+)$", p["message"])
            return f"Unknown scene type: {got.group(1) if got else '?'} ({listed})"
    return f"Invalid request: {listed}"


async def _queue_original(request: Request) -> tuple[str, str] | JSONResponse:
    """Check and queue an original request; (job id, output name) or a 400 answer."""
    data, problems = decode_body(await request.body())
    if not problems and not isinstance(data, dict):
        problems = [{"field": "$", "message": "the request is a JSON object"}]
    if not problems:
        data, tag = dict(data), uuid.uuid4().hex
        name = data.get("output_filename") or f"output_{uuid.uuid4().hex}.mp4"
        data["output_filename"] = f"{tag}_{name}" if isinstance(name, str) else name
        if "id" not in data and "job_id" not in data:
            data["id"] = tag   # /download/<tag>_<name> names its job
        problems = await run_in_threadpool(job_problems, data, request.app.state.settings)
    if problems:
        return JSONResponse(status_code=400, content={"detail": _invalid_detail(problems)})
    result = await run_in_threadpool(request.app.state.store.submit, data)
    return result.id, data["output_filename"]


@router.post("/generate", openapi_extra=ORIGINAL_BODY, responses={200: {"model": Generated}, **ANSWERS},
             summary="The original service's render call: answers when the video is ready")
async def generate(request: Request):
    started = time.monotonic()
    queued = await _queue_original(request)
    if isinstance(queued, JSONResponse):
        return queued
    job_id, _name = queued
    settings = request.app.state.settings
    try:
        info = await request.app.state.job_ends.wait(job_id, started + settings.API_GENERATE_TIMEOUT,
                                                     request.is_disconnected)
    except ClientLeft:
        log.info("POST /generate: the client left before job %s ended; the job goes on", job_id)
        return Response(status_code=499)   # nobody reads it
    if info is None:
        return JSONResponse(status_code=504, content={
            "detail": f"the video is not ready after {settings.API_GENERATE_TIMEOUT:g} s "
                      f"(API_GENERATE_TIMEOUT); follow it at /v1/jobs/{job_id}", "job_id": job_id})
    return _final_answer(info, job_id, started, output_sink(request))


def download_url(sink, job_id: str, record: dict) -> str:
    """The original's `/download/<file name>` (a path on this server, as the original answered),
    or on S3 the video's presigned URL."""
    if sink.kind != "local":
        url = fresh_urls(sink, job_id, record).get("video")
        if url:
            return url
    return f"/download/{Path(record['output']).name}"


def _final_answer(info, job_id: str, started: float, sink) -> JSONResponse:
    state, record = state_of(info), info.record or {}
    if state == JobState.FINISHED.value:
        elapsed = time.monotonic() - started
        return JSONResponse({"download_url": download_url(sink, job_id, record),
                             "generation_time": f"{int(elapsed // 60)}m {int(elapsed % 60)}s",
                             "job_id": job_id})
    error = record.get("error") or {}
    message = redact(str(error.get("message") or state))   # records are scrubbed; answers too
    if error.get("type") == "JobInvalid":
        return JSONResponse(status_code=400, content={"detail": f"Invalid request: {message}", "job_id": job_id})
    if error.get("asset"):
        return JSONResponse(status_code=400, content={
            "detail": f"Failed to download asset: {error['asset']} ({message})", "job_id": job_id})
    return JSONResponse(status_code=500, content={"detail": f"Video generation failed: {message}",
                                                  "job_id": job_id})


@router.get("/download/{filename}", summary="The original service's download of a finished video",
            response_class=FileResponse, responses={200: media("video/mp4", "the video"), **STORED,
                                                    404: detail("File not found.")})
def download(request: Request, filename: str):
    if not plain_file_name(filename) or not filename.endswith(".mp4"):
        raise HTTPException(status_code=404, detail="File not found.")
    path = request.app.state.settings.path("OUTPUT_DIR") / filename
    if servable(request, str(path)):
        return FileResponse(path, media_type="video/mp4", filename=filename)
    stored = _stored_download(request, filename)
    if stored is None:
        raise HTTPException(status_code=404, detail="File not found.")
    return stored


def _stored_download(request: Request, filename: str):
    """A video on S3 named by /generate (`<job id>_<name>`): a 307 to its presigned URL."""
    sink = output_sink(request)
    job_id = filename.partition("_")[0]
    if sink.kind == "local" or not ID_RE.match(job_id):
        return None
    info = request.app.state.store.get(job_id)
    if state_of(info) != JobState.FINISHED.value:
        return None
    record = info.record or {}
    if record_files(record).get("video") != filename:
        return None
    return from_store(sink, job_id, record, "video")


@router.post("/generate-task", openapi_extra=ORIGINAL_BODY,
             responses={200: {"model": TaskQueued}, 400: ANSWERS[400]},
             summary="The original service's queued render: {task_id, status}")
async def generate_task(request: Request):
    queued = await _queue_original(request)
    if isinstance(queued, JSONResponse):
        return queued
    return {"task_id": queued[0], "status": "queued"}


@router.get("/task-status/{task_id}", responses={
                200: {"model": TaskStatus}, 404: {"model": TaskNotFound, "description": "no such task"}},
            summary="The original service's task status")
def task_status(request: Request, task_id: str):
    info = request.app.state.store.get(task_id, with_job=False) if ID_RE.match(task_id) else None
    if info is None:
        return JSONResponse(status_code=404, content={"error": "Task not found"})
    state = state_of(info)
    answer = {"task_id": task_id, "status": TASK_STATUS.get(state, state)}
    record = info.record or {}
    if state == JobState.FINISHED.value:
        answer["result"] = {"download_url": download_url(output_sink(request), task_id, record)}
    elif state in (JobState.FAILED.value, JobState.CANCELLED.value):
        answer["error"] = (record.get("error") or {}).get("message") or state
    return answer
