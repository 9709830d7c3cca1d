"""Step 8, deliver: a job's finished files published through the output sink, and their URLs.

    staged = staging_dir(settings, job.id)          # step 6 writes the finished files here
    done = deliver(sink, job.id, files, report)     # publish-once, confirmed; Delivered

The sink is OUTPUT_STORE's (storage.open_sink): the local folder OUTPUT_DIR by default, or an
S3 bucket prefix. Step 6 stages the video, poster, captions and manifest in
WORK_DIR/outbox/<job id>/ (outside the job's scratch folder, which goes when the render ends);
this step publishes each, in that order, and deletes a staged file only once the sink has
confirmed its copy (size and SHA-256), so a store that is down leaves every unconfirmed file on
the local disk until the job's next attempt stages and publishes again. The report
stays in REPORT_DIR (SPEC "Outputs"); on S3 it is published too, as `<job id>.json`.

Publish-once: a name that holds different bytes is never replaced (storage.PublishConflict,
the job fails naming the file). The manifest and the report are records of a render, not the
render itself (the manifest holds its creation time, the report its timings): when an earlier
run of the same job published them, the earlier ones are kept. `replace=True` (a person
rendering again on purpose: the `render` command) replaces instead.

A store that fails is tried again with the shared backoff inside the sink (storage.s3_sink),
then StoreUnavailable, a TransientError: the worker tries the job again later, and records a
failure naming the store and the file once its attempts are spent.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from storage import OutputSink, PublishConflict

log = logging.getLogger("protovideo.pipeline.delivery")
STAGING = "outbox"
RECORDS = ("manifest", "report")   # kept as first published when a later run differs


@dataclass(frozen=True)
class Delivered:
    """Where each finished file is now, by role: video, poster, subtitles_srt, subtitles_vtt,
    manifest, report. `locations`: the local path (local sink) or the s3:// name; `urls`: what
    a client fetches (presigned on S3, under API_PUBLIC_URL for the local folder)."""
    store: str                                    # the sink's kind: "local", "s3"
    names: dict[str, str] = field(default_factory=dict)
    locations: dict[str, str] = field(default_factory=dict)
    urls: dict[str, str] = field(default_factory=dict)
    new: tuple[str, ...] = ()                     # roles whose bytes were not there before

    @property
    def subtitles(self) -> list[str]:
        return [self.locations[r] for r in ("subtitles_srt", "subtitles_vtt") if r in self.locations]


def staging_dir(settings, job_id: str) -> Path:
    """WORK_DIR/outbox/<job id>: where step 6 puts the finished files before step 8."""
    return settings.path("WORK_DIR") / STAGING / job_id


def roles(video: Path, poster: Path | None, captions: tuple[Path, ...], manifest: Path | None) -> dict[str, Path]:
    """The staged files by role, in the order they are published (the video first)."""
    named = {"video": video}
    if poster is not None:
        named["poster"] = poster
    for path in captions:
        named[f"subtitles_{path.suffix.lstrip('.')}"] = path
    if manifest is not None:
        named["manifest"] = manifest
    return named


def planned(sink: OutputSink, job_id: str, files: dict[str, Path], report_name: str) -> Delivered:
    """Where each file will be once delivered (the report, written before step 8, names them)."""
    names = {role: path.name for role, path in files.items()} | {"report": report_name}
    return Delivered(sink.kind, names, {r: sink.location(job_id, n) for r, n in names.items()})


def deliver(sink: OutputSink, job_id: str, files: dict[str, Path], report: Path | None, *,
            replace: bool = False) -> Delivered:
    """Publish `files` (role -> staged path) and the report through `sink`, in order; each staged
    file is deleted once its copy is confirmed, the report is kept (REPORT_DIR). Raises
    StoreUnavailable (the store kept failing) or PublishConflict (a name holds other bytes)."""
    todo = dict(files)
    if report is not None:
        todo["report"] = Path(report)
    names, locations, new = {}, {}, []
    for role, path in todo.items():
        try:
            done = sink.publish(job_id, path.name, path, replace=replace)
        except PublishConflict:
            if role not in RECORDS:
                raise
            log.warning("job %s: %s %s was published by an earlier run of the job; it is kept",
                        job_id, role, path.name)
            names[role], locations[role] = path.name, sink.location(job_id, path.name)
        else:
            names[role], locations[role] = path.name, done.location
            if done.new:
                new.append(role)
        if role != "report" and str(path.resolve()) != locations[role]:
            path.unlink(missing_ok=True)   # confirmed in the sink: the staged copy goes
    if files:
        _remove_empty(next(iter(files.values())).parent)
    urls = {role: sink.url(job_id, name) for role, name in names.items()}
    return Delivered(sink.kind, names, locations, urls, tuple(new))


def links(sink: OutputSink, job_id: str, names: dict[str, str]) -> dict[str, str]:
    """Fresh URLs (a presigned URL is valid URL_TTL seconds from now) for the roles' names."""
    return {role: sink.url(job_id, name) for role, name in names.items()}


def _remove_empty(folder: Path) -> None:
    if folder.name and folder.parent.name == STAGING:
        try:
            folder.rmdir()
        except OSError:
            pass   # something left: a file that was not confirmed stays for the next attempt
