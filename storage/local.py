"""The local sink (the default): finished files in OUTPUT_DIR, URLs under API_PUBLIC_URL.

Files keep today's layout, `OUTPUT_DIR/<file name>` (the video's name is the job's output name,
`<job id>.mp4` unless the job gives one). A file is copied into a temp file in OUTPUT_DIR,
flushed, then hard-linked under its name: the link fails when the name exists, so publishing
never replaces a finished file with different bytes and nobody sees a half-written one. On a
file system without hard links the check and the rename are two steps (a publish racing another
of different bytes could then replace it).

The URLs are the job API's routes for a finished job's files (protovideo/service/api/
routes_files.py): the video, poster, captions and report have their own routes; any other
name would be `/v1/jobs/<id>/files/<name>`, which no route serves (the pipeline publishes no
other). The job's report `<job id>.json` is REPORT_DIR's file (where SPEC keeps it).
"""
from __future__ import annotations

import contextlib
import errno
import os
import shutil
import uuid
from pathlib import Path
from typing import IO
from urllib.parse import quote

from storage.address import check_segment
from storage.errors import PublishConflict
from storage.sinks import Published, file_sha256, output_sink

ROUTES = ((".manifest.json", "manifest.json"), (".mp4", "video"), (".jpg", "poster.jpg"),
          (".vtt", "subtitles.vtt"), (".srt", "subtitles.srt"))
NO_LINKS = {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK}


class LocalSink:
    kind = "local"

    def __init__(self, root: Path, public_url: str, reports: Path | None = None):
        self.root = Path(root)
        self.public_url = public_url.rstrip("/")
        self.reports = Path(reports) if reports is not None else None   # REPORT_DIR

    def path(self, job_id: str, name: str) -> Path:
        """OUTPUT_DIR/<name>; the job's report `<job id>.json` is REPORT_DIR's (where SPEC keeps it)."""
        check_segment(job_id, "job id")
        if self.reports is not None and name == f"{job_id}.json":
            return self.reports / name
        return self.root / check_segment(name)

    def location(self, job_id: str, name: str) -> str:
        return str(self.path(job_id, name))

    def url(self, job_id: str, name: str) -> str:
        check_segment(name)
        route = next((r for suffix, r in ROUTES if name.endswith(suffix)), None)
        if route is None and name in ("report.json", f"{job_id}.json"):
            route = "report"
        base = f"{self.public_url}/v1/jobs/{quote(check_segment(job_id, 'job id'), safe='')}"
        return f"{base}/{route}" if route else f"{base}/files/{quote(name, safe='')}"

    def publish(self, job_id: str, name: str, source: Path, *, content_type: str | None = None,
                replace: bool = False) -> Published:
        target = self.path(job_id, name)
        source = Path(source)
        digest, size = file_sha256(source)
        if source.resolve() == target.resolve():
            return Published(name, str(target), size, digest, new=False)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.parent / f".publish-{uuid.uuid4().hex}{target.suffix}"
        # 0666 less the umask, as every output (tempfile.mkstemp would make it 0600: jobmodel/files.py)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666)
        try:
            with os.fdopen(fd, "wb") as out, open(source, "rb") as src:
                shutil.copyfileobj(src, out, 1 << 20)
                out.flush()
                os.fsync(out.fileno())
            new = self._place(tmp, target, digest, replace)
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        found, found_size = file_sha256(target)
        if (found, found_size) != (digest, size):
            raise PublishConflict(f"{target} does not hold the bytes just published "
                                  "(changed by something else meanwhile)")
        return Published(name, str(target), size, digest, new)

    def _place(self, tmp: Path, target: Path, digest: str, replace: bool) -> bool:
        """Move the complete temp file under its name; False when the same bytes were there."""
        if replace:
            os.replace(tmp, target)
            return True
        try:
            os.link(tmp, target)
            return True
        except FileExistsError:
            pass
        except OSError as exc:
            if exc.errno not in NO_LINKS:
                raise
            if not target.exists():
                os.replace(tmp, target)
                return True
        if file_sha256(target)[0] != digest:
            raise PublishConflict(f"{target} already holds a different file; it is not replaced")
        return False

    def open(self, job_id: str, name: str) -> IO[bytes]:
        return open(self.path(job_id, name), "rb")

    def delete(self, job_id: str, name: str) -> bool:
        try:
            self.path(job_id, name).unlink()
        except FileNotFoundError:
            return False
        return True


def public_base(settings) -> str:
    """API_PUBLIC_URL, or the address the job API listens on (loopback for a wildcard host)."""
    public = getattr(settings, "API_PUBLIC_URL", "") or ""
    if public:
        return public
    host = settings.API_HOST if settings.API_HOST not in ("0.0.0.0", "::", "") else "127.0.0.1"
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{settings.API_PORT}"


@output_sink("local")
def local_sink(settings) -> LocalSink:
    return LocalSink(settings.path("OUTPUT_DIR"), public_base(settings), settings.path("REPORT_DIR"))
