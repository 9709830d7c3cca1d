"""A finished job's files as the API hands them out: through the output sink (OUTPUT_STORE).

    sink = output_sink(request)              # this server's sink (opened once)
    urls = fresh_urls(sink, job_id, record)  # role -> URL: presigned now (S3), under API_PUBLIC_URL (local)
    answer = from_store(sink, job_id, record, "video")   # S3: a redirect or the bytes; None: local

A done record names its files by role (`files`: video, poster, subtitles_srt, subtitles_vtt,
manifest, report -> file name) and the sink they went to (`store`). URLs are made again on
every read, so a presigned URL in an answer is valid URL_TTL seconds from then, whatever the
record kept from the job's end. A record of another sink than this server's (a worker with
another OUTPUT_STORE) gets no fresh URLs: its own `links` stand.

On S3 the video and the poster answer `307` to a presigned URL (the store answers Range
requests: players seek there); captions, manifest and report are read from the store and sent
as they are (a `<track>` and the dashboard's fetches stay on this origin).
"""
from __future__ import annotations

import logging
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import JSONResponse, RedirectResponse, Response, StreamingResponse

from storage import OutputSink, open_sink
from storage.address import check_segment
from storage.sinks import content_type

log = logging.getLogger("protovideo.api")
REDIRECTED = ("video", "poster")   # big, and fetched by <video>/<img>: the store serves them


def output_sink(request: Request) -> OutputSink:
    state = request.app.state
    if getattr(state, "sink", None) is None:
        state.sink = open_sink(state.settings)
    return state.sink


def record_files(record: dict | None) -> dict[str, str]:
    """The record's `files` (role -> file name), only names that are one plain path segment."""
    files = (record or {}).get("files") if isinstance(record, dict) else None
    if not isinstance(files, dict):
        return {}
    named = {}
    for role, name in files.items():
        try:
            named[str(role)] = check_segment(name)
        except ValueError:
            continue   # a tampered record names nothing outside the job's files
    return named


def same_store(sink: OutputSink | None, record: dict | None) -> bool:
    return sink is not None and isinstance(record, dict) and record.get("store") == sink.kind


def fresh_urls(sink: OutputSink | None, job_id: str, record: dict | None) -> dict[str, str]:
    """role -> URL for the record's files, made now; {} for a record without files or of another sink."""
    if not same_store(sink, record):
        return {}
    urls = {}
    for role, name in record_files(record).items():
        try:
            urls[role] = sink.url(job_id, name)
        except Exception as exc:   # noqa: BLE001 - no credentials to sign with: no URL, never a 500
            log.warning("job %s: no URL for its %s (%s)", job_id, role, type(exc).__name__)
    if "video" in urls:   # the original service's /download: on S3 the store's URL itself
        public = getattr(sink, "public_url", None)
        urls["download"] = f"{public}/download/{quote(record_files(record)['video'], safe='')}" \
            if sink.kind == "local" and public else urls["video"]
    return urls


def from_store(sink: OutputSink, job_id: str, record: dict, role: str) -> Response | None:
    """The answer for one of the job's files kept on S3, or None when it is not there (a local
    record: the caller serves the file from disk). 404 when the record lists no such file."""
    if not same_store(sink, record) or sink.kind == "local":
        return None
    name = record_files(record).get(role)
    if name is None:
        return JSONResponse(status_code=404, content={"detail": f"job {job_id} has no {role}"})
    try:
        if role in REDIRECTED:
            return RedirectResponse(sink.url(job_id, name), status_code=307)
        body = sink.open(job_id, name)
    except FileNotFoundError:
        return JSONResponse(status_code=404, content={"detail": f"job {job_id} has no {role} in the store"})
    except Exception as exc:   # noqa: BLE001 - StoreUnavailable, or no credentials: 503, never a 500
        log.warning("job %s: its %s from the store: %s", job_id, role, type(exc).__name__)
        return JSONResponse(status_code=503, content={
            "detail": f"the store holding job {job_id}'s {role} does not answer; try again later"})

    def chunks():
        try:
            while block := body.read(1 << 16):
                yield block
        finally:
            body.close()

    return StreamingResponse(chunks(), media_type=content_type(name))
