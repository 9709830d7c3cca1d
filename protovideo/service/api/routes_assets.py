"""POST /v1/assets: upload a picture, clip or sound for jobs to use.

The file is checked by its bytes exactly as a downloaded asset is
(generators.media_check.check_asset), then stored as ASSET_ROOT/uploads/<sha256>.<ext>,
the extension that of the detected format (never the client's file name: an MP3 sent
as x.html is stored as .mp3); the answer's `path` ("uploads/<sha256>.<ext>", relative
to ASSET_ROOT) goes into a job's `image`, `video`, `narration` or `music`.

The same bytes twice give the same path, and the second upload reuses the first file.
The file is written to a temporary name and linked into place (os.link never replaces
a file), so existing content is never overwritten by different bytes; only a file under
that name whose bytes no longer hash to it (damaged on disk) is replaced, with a warning.
"""
from __future__ import annotations

import errno
import hashlib
import logging
import os
import uuid
from pathlib import Path

from fastapi import APIRouter, File, Form, HTTPException, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from jobmodel.errors import JobFailed
from protovideo.service.api.bodies_system import Uploaded, detail

log = logging.getLogger("protovideo.api")
router = APIRouter()
KINDS = ("image", "video", "audio")
SUFFIXES = {
    "image": {"PNG": ".png", "JPEG": ".jpg", "WEBP": ".webp", "GIF": ".gif", "BMP": ".bmp", "TIFF": ".tif"},
    "video": {"mov": ".mp4", "mp4": ".mp4", "3gp": ".3gp", "matroska": ".mkv", "webm": ".webm",
              "avi": ".avi", "mpegts": ".ts", "gif": ".gif"},
    "audio": {"mp3": ".mp3", "wav": ".wav", "ogg": ".ogg", "flac": ".flac", "aac": ".aac",
              "mov": ".m4a", "m4a": ".m4a", "3gp": ".m4a", "matroska": ".mka", "webm": ".webm"},
}
UNKNOWN_SUFFIX = ".bin"   # a format the table does not name (the bytes passed the checks)
CHUNK = 1 << 20
HINTS = {"image": (".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp", ".tif", ".tiff"),
         "video": (".mp4", ".mov", ".m4v", ".webm", ".mkv", ".avi", ".ts"),
         "audio": (".mp3", ".wav", ".ogg", ".oga", ".opus", ".flac", ".m4a", ".aac", ".mka")}


@router.post("/v1/assets", status_code=201, responses={
                 201: {"model": Uploaded}, 400: detail("empty, a bad `kind`, or bytes that are no usable picture, "
                                                       "clip or sound"),
                 413: detail("larger than MAX_DOWNLOAD_MB")},
             summary="Upload an asset (multipart field 'file'; optional 'kind'): 201 {path, kind, sha256, bytes}")
async def upload(request: Request, file: UploadFile = File(...), kind: str | None = Form(default=None)):
    if kind is not None and kind not in KINDS:
        raise HTTPException(status_code=400, detail=f"kind must be one of {', '.join(KINDS)}")
    return await run_in_threadpool(_store_upload, request.app.state.settings, file, kind)


def _store_upload(settings, file: UploadFile, kind: str | None):
    folder = settings.path("ASSET_ROOT") / "uploads"
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".upload-{uuid.uuid4().hex}"
    limit = int(settings.MAX_DOWNLOAD_MB * (1 << 20))
    digest, size = hashlib.sha256(), 0
    try:
        with open(tmp, "xb") as out:
            while chunk := file.file.read(CHUNK):
                size += len(chunk)
                if size > limit:
                    raise HTTPException(status_code=413, detail=f"the file is larger than MAX_DOWNLOAD_MB "
                                                                f"({settings.MAX_DOWNLOAD_MB:g})")
                digest.update(chunk)
                out.write(chunk)
        if size == 0:
            raise HTTPException(status_code=400, detail="the file is empty")
        found_kind, info = _check(tmp, kind, file.filename or "upload")
        name = digest.hexdigest() + SUFFIXES[found_kind].get(_format_key(info.format), UNKNOWN_SUFFIX)
        _place(tmp, folder / name, digest.hexdigest())
    finally:
        tmp.unlink(missing_ok=True)
    return JSONResponse(status_code=201, content={
        "path": f"uploads/{name}", "kind": found_kind, "sha256": digest.hexdigest(), "bytes": size,
        "width": info.width or None, "height": info.height or None, "duration_s": info.duration_s})


def _place(tmp: Path, final: Path, sha256: str) -> None:
    """Put `tmp` at `final` without ever replacing other bytes there (the name is their SHA-256)."""
    try:
        os.link(tmp, final)          # atomic, and fails when `final` exists
        return
    except FileExistsError:
        pass
    except OSError as exc:           # a file system without hard links
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EMLINK):
            raise
        if not final.exists():
            os.rename(tmp, final)
            return
    if _sha256_of(final) == sha256:
        return                       # the same bytes are there already
    log.warning("upload %s: the file there was damaged (its bytes no longer hash to its name); "
                "replacing it with the uploaded bytes", final.name)
    os.replace(tmp, final)


def _sha256_of(path: Path) -> str | None:
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as src:
            while chunk := src.read(CHUNK):
                digest.update(chunk)
    except OSError:
        return None
    return digest.hexdigest()


def _format_key(fmt: str) -> str:
    """"mov,mp4,m4a,3gp,3g2,mj2" -> "mp4"-like single name the suffix table knows."""
    parts = [p for p in (fmt or "").split(",") if p]
    for preferred in ("mp4", "m4a", "mp3", "wav", "ogg", "flac", "matroska", "webm", "avi", "mpegts", "gif"):
        if preferred in parts:
            return preferred
    return parts[0] if parts else fmt


def _check(path: Path, kind: str | None, shown: str):
    """(kind, MediaInfo) of the first kind the bytes pass as; 400 naming why when none."""
    from generators.media_check import check_asset
    if kind:
        tried = [kind]
    else:   # the name's suffix goes first (an MP3 with cover art also holds a picture stream)
        suffix = Path(shown).suffix.lower()
        hinted = [k for k in KINDS if suffix in HINTS[k]]
        tried = hinted + [k for k in KINDS if k not in hinted]
    reasons = []
    for candidate in tried:
        try:
            return candidate, check_asset(path, candidate, field="file", asset=shown)
        except JobFailed as exc:
            reasons.append(f"not a usable {candidate}: {exc.message}")
    raise HTTPException(status_code=400, detail="; ".join(reasons))


