"""Output sinks: where a job's finished files go, and the URL a client fetches them from.

    sink = open_sink(settings)              # OUTPUT_STORE: "" = the local folder, s3://... = S3
    done = publish_outputs(sink, job.id, [video, poster, vtt, srt, manifest, report])
    sink.url(job.id, video.name)            # a presigned GET (S3) or a URL under API_PUBLIC_URL

Every sink has the same small interface (OutputSink). `publish` is publish-once: a name that
already holds different bytes is never replaced (PublishConflict), the same bytes again are a
success (a retried or duplicated job), and no half-written file or object is ever visible under
the name. `replace=True` replaces instead (a person re-rendering a file on purpose).
A sink is a plug-in: `@output_sink("name")` on a factory taking the settings (generators/plugins.py's
registrar, not declared to the job model: jobs never name a sink).
"""
from __future__ import annotations

import hashlib
import mimetypes
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Iterable, Mapping, Protocol

from generators.plugins import Plugin, find, registrar

OUTPUT_SINKS: dict[str, Plugin] = {}    # scheme -> Plugin whose `make(settings)` is the sink
output_sink = registrar(OUTPUT_SINKS, "output_sink", declared=False)   # jobs never name a sink

# what players and browsers expect; mimetypes' table varies between machines
CONTENT_TYPES = {".mp4": "video/mp4", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png",
                 ".vtt": "text/vtt; charset=utf-8", ".srt": "application/x-subrip; charset=utf-8",
                 ".json": "application/json", ".wav": "audio/wav", ".txt": "text/plain; charset=utf-8"}


@dataclass(frozen=True)
class Published:
    name: str
    location: str      # s3://bucket/prefix/<job>/<name>, or the local file's path
    size: int
    sha256: str
    new: bool          # False: the same bytes were already there (a retry, a duplicate)


class OutputSink(Protocol):
    kind: str          # "local", "s3"

    def publish(self, job_id: str, name: str, source: Path, *, content_type: str | None = None,
                replace: bool = False) -> Published: ...

    def url(self, job_id: str, name: str) -> str: ...

    def location(self, job_id: str, name: str) -> str: ...

    def open(self, job_id: str, name: str) -> IO[bytes]: ...

    def delete(self, job_id: str, name: str) -> bool: ...


def content_type(name: str) -> str:
    suffix = Path(name).suffix.lower()
    return CONTENT_TYPES.get(suffix) or mimetypes.guess_type(name)[0] or "application/octet-stream"


def file_sha256(path: Path) -> tuple[str, int]:
    """(hex SHA-256, size) of a file, read in 1 MB blocks."""
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
            size += len(block)
    return digest.hexdigest(), size


def open_sink(settings) -> OutputSink:
    """The sink OUTPUT_STORE names: empty = the local folder (OUTPUT_DIR), s3://bucket/prefix = S3."""
    store = getattr(settings, "OUTPUT_STORE", "") or ""
    kind = store.partition("://")[0].lower() if store else "local"
    return find(OUTPUT_SINKS, kind, "output sink for OUTPUT_STORE").make(settings)


def publish_outputs(sink: OutputSink, job_id: str, files: Iterable[Path] | Mapping[str, Path], *,
                    replace: bool = False, delete_local: bool = False) -> dict[str, Published]:
    """Publish a job's files (named by their file names, or by the mapping's keys), in order.

    Each file is confirmed in the sink (size and SHA-256) before the next starts; with
    delete_local, a local file is deleted only after its copy is confirmed, so a failure
    part-way (StoreUnavailable, PublishConflict) leaves every unconfirmed file in place."""
    named = dict(files) if isinstance(files, Mapping) else {Path(p).name: Path(p) for p in files}
    done: dict[str, Published] = {}
    for name, path in named.items():
        done[name] = sink.publish(job_id, name, Path(path), replace=replace)
        if delete_local and str(Path(path).resolve()) != done[name].location:
            Path(path).unlink(missing_ok=True)
    return done
