"""A finished job's files: the video (HTTP Range for players), report, poster, captions, manifest.

A job published to S3 (OUTPUT_STORE; the record's `store` is "s3") is answered from there by
any API process: the video and poster by a 307 to a presigned URL (the store answers Range
requests), the others read from the store (api/outputs.py). Local files are where the job's
record says, served only from inside this server's OUTPUT_DIR (reports: REPORT_DIR). When
that path is not on this machine (Redis source, OUTPUT_DIR not shared), the answer is 404
with the record's `location`, so a client knows where the file is.
"""
from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, JSONResponse

from jobmodel.states import JobState
from protovideo.service.api.bodies_system import NOT_FOUND, STORED, Elsewhere, media
from protovideo.service.api.outputs import from_store, output_sink
from protovideo.service.api.routes_jobs import job_or_404

router = APIRouter()
MAX_NAME_BYTES = 255   # the longest file name ext4, XFS and btrfs keep


def finished_record(request: Request, job_id: str) -> dict:
    info = job_or_404(request, job_id)
    state = getattr(info.state, "value", info.state)
    if state != JobState.FINISHED.value:
        raise HTTPException(status_code=404,
                            detail=f"job {job_id} is {state}; its files are there once it is finished")
    return info.record or {}


def plain_file_name(name: str) -> bool:
    """A name a URL may ask for: one path part of at most MAX_NAME_BYTES, no control characters,
    not hidden. Anything else answers 404 before the disk is asked (never a 500)."""
    return (0 < len(name.encode("utf-8", "surrogatepass")) <= MAX_NAME_BYTES
            and not name.startswith(".") and "/" not in name and "\\" not in name
            and not any(ord(ch) < 32 or 0x7f <= ord(ch) < 0xa0 or 0xd800 <= ord(ch) < 0xe000 for ch in name))


def servable(request: Request, path: str | None, folder: str = "OUTPUT_DIR") -> bool:
    """True for a file that exists inside this server's OUTPUT_DIR (REPORT_DIR for reports).

    A record names its files; only those under the configured folder are served, so a
    record that names anything else (a tampered Redis, a hand-written file) serves nothing.
    A path the system cannot look up (a NUL, a name too long) is not servable either."""
    if not path:
        return False
    root = request.app.state.settings.path(folder)
    try:
        resolved = Path(path).resolve()
        return resolved.is_relative_to(root) and resolved.is_file()
    except (OSError, RuntimeError, ValueError):
        return False


def _elsewhere(what: str, location: str, record: dict) -> JSONResponse:
    return JSONResponse(status_code=404, content={
        "detail": f"the {what} is not on this machine; the record says it is at {location}",
        "location": location, "worker": record.get("worker")})


def _listed(record: dict, key: str, suffix: str) -> str | None:
    """A file the record lists under `key` (a path, a list or a {suffix: path} map)."""
    value = record.get(key)
    if isinstance(value, str):
        return value if value.endswith(suffix) else None
    if isinstance(value, dict):
        found = value.get(suffix.lstrip(".")) or value.get(suffix)
        return found if isinstance(found, str) else None
    if isinstance(value, list):
        return next((v for v in value if isinstance(v, str) and v.endswith(suffix)), None)
    return None


def _beside_output(record: dict, key: str, suffix: str) -> str | None:
    listed = _listed(record, key, suffix)
    if listed:
        return listed
    output = record.get("output")
    return str(Path(output).with_suffix(suffix)) if output else None


@router.get("/v1/jobs/{job_id}/video", summary="The MP4 (Range requests answered 206); 404 until finished",
            response_class=FileResponse, responses={
                200: media("video/mp4", "the video"), 206: media("video/mp4", "the requested byte range"),
                **STORED, 404: {"model": Elsewhere, "description": "not finished, or not on this machine "
                                                                  "(`location` says where); or no such job"}})
def video(request: Request, job_id: str):
    record = finished_record(request, job_id)
    stored = from_store(output_sink(request), job_id, record, "video")
    if stored is not None:
        return stored
    output = record.get("output") or ""
    if not servable(request, output):
        return _elsewhere("video", output, record)
    return FileResponse(output, media_type="video/mp4", filename=Path(output).name,
                        content_disposition_type="inline")


@router.get("/v1/jobs/{job_id}/poster.jpg", summary="The poster frame (JPEG)", response_class=FileResponse,
            responses={200: media("image/jpeg", "the poster frame"), **STORED,
                       404: {"model": Elsewhere, "description": "not finished, or not on this machine"}})
def poster(request: Request, job_id: str):
    record = finished_record(request, job_id)
    stored = from_store(output_sink(request), job_id, record, "poster")
    if stored is not None:
        return stored
    path = _beside_output(record, "poster", ".jpg")
    if not servable(request, path):
        return _elsewhere("poster", path or "", record)
    return FileResponse(path, media_type="image/jpeg")


@router.get("/v1/jobs/{job_id}/manifest.json", summary="The video's provenance manifest (JSON)",
            response_class=FileResponse, responses={200: {"description": "the manifest", "content": {
                "application/json": {"schema": {"type": "object"}}}}, **NOT_FOUND})
def manifest(request: Request, job_id: str):
    record = finished_record(request, job_id)
    stored = from_store(output_sink(request), job_id, record, "manifest")
    if stored is not None:
        return stored
    path = record.get("manifest") if isinstance(record.get("manifest"), str) else None
    if not servable(request, path):
        raise HTTPException(status_code=404, detail=f"job {job_id} has no manifest here")
    return FileResponse(path, media_type="application/json")


@router.get("/v1/jobs/{job_id}/subtitles.vtt", summary="The captions as WebVTT (word-timed)",
            response_class=FileResponse, responses={200: media("text/vtt", "WebVTT", binary=False), **NOT_FOUND})
def subtitles_vtt(request: Request, job_id: str):
    return _captions(request, job_id, ".vtt", "text/vtt; charset=utf-8")


@router.get("/v1/jobs/{job_id}/subtitles.srt", summary="The captions as SubRip", response_class=FileResponse,
            responses={200: media("application/x-subrip", "SubRip", binary=False), **NOT_FOUND})
def subtitles_srt(request: Request, job_id: str):
    return _captions(request, job_id, ".srt", "application/x-subrip; charset=utf-8")


def _captions(request: Request, job_id: str, suffix: str, media_type: str):
    record = finished_record(request, job_id)
    stored = from_store(output_sink(request), job_id, record, f"subtitles_{suffix.lstrip('.')}")
    if stored is not None:
        return stored
    path = _beside_output(record, "subtitles", suffix)
    if not servable(request, path):
        raise HTTPException(status_code=404, detail=f"job {job_id} has no {suffix} captions "
                                                    "(captions are written when there is narration)")
    return FileResponse(path, media_type=media_type)


@router.get("/v1/jobs/{job_id}/report", summary="The job's performance report (JSON)", response_class=FileResponse,
            responses={200: {"description": "the performance report", "content": {
                "application/json": {"schema": {"type": "object"}}}}, **NOT_FOUND})
def report(request: Request, job_id: str):
    info = job_or_404(request, job_id)
    record = info.record or {}
    listed = record.get("report") if isinstance(record.get("report"), str) else None
    here = request.app.state.settings.path("REPORT_DIR") / f"{job_id}.json"
    path = Path(listed) if listed and not listed.startswith("s3://") else here
    if not servable(request, str(path), "REPORT_DIR"):   # not on this machine: the store's copy
        stored = from_store(output_sink(request), job_id, record, "report")
        if stored is not None:
            return stored
        state = getattr(info.state, "value", info.state)
        raise HTTPException(status_code=404, detail=f"job {job_id} ({state}) has no report here")
    return FileResponse(path, media_type="application/json")
