"""How a job looks in the API: state, progress (done/total, percent, the step), ETA, record and links."""
from __future__ import annotations

from pathlib import Path

from jobmodel.states import JobState
from jobmodel.title import job_title
from protovideo.service.api.describe import describe_error
from protovideo.service.api.outputs import fresh_urls

LINK_ROLES = ("video", "poster", "subtitles_vtt", "subtitles_srt", "manifest", "report")


def job_links(job_id: str, state: str, record: dict | None, sink=None, urls: dict | None = None) -> dict:
    """The job's links: its own routes (self, cancel); once finished, its files. A record of
    this server's output sink (`files`, `store`) links each file by a URL made now (`urls`, or
    from `sink`): presigned on S3, under API_PUBLIC_URL for OUTPUT_DIR; older records link the
    job API's routes."""
    base = f"/v1/jobs/{job_id}"
    links = {"self": base}
    if state in (JobState.QUEUED.value, JobState.STARTED.value):
        links["cancel"] = base
    if state == JobState.FINISHED.value:
        links.update(video=f"{base}/video", report=f"{base}/report", poster=f"{base}/poster.jpg")
        if record and record.get("manifest"):
            links["manifest"] = f"{base}/manifest.json"
        if record and (record.get("subtitles") or _beside(record, ".vtt").is_file()):
            links.update(subtitles_vtt=f"{base}/subtitles.vtt", subtitles_srt=f"{base}/subtitles.srt")
        output = (record or {}).get("output")
        if output:
            links["download"] = f"/download/{Path(output).name}"
        urls = fresh_urls(sink, job_id, record) if urls is None else urls
        links.update({role: urls[role] for role in LINK_ROLES + ("download",) if role in urls})
    elif state == JobState.FAILED.value:
        links["report"] = f"{base}/report"
    return links


def _beside(record: dict, suffix: str) -> Path:
    output = record.get("output") or ""
    return Path(output).with_suffix(suffix) if output else Path("/nonexistent")


def progress_with_eta(info, eta_model) -> tuple[dict, float | None]:
    """The progress object {"done","total","what","percent"} (and "step" where the worker tells it)
    and the ETA in seconds (None when unknown). done/total and percent are one figure, as the worker
    published it (protovideo.pipeline.progress: thousandths of the job); the ETA of a running job is
    its worker's, of a queued one its place in the queue (protovideo.service.api.eta)."""
    raw = dict(info.progress or {})
    done, total = int(raw.get("done") or 0), int(raw.get("total") or 0)
    state = info.state.value if hasattr(info.state, "value") else str(info.state)
    percent = 100.0 * done / total if total else 0.0
    eta = None
    if state == JobState.FINISHED.value:
        done, total, percent, eta = max(done, total, 1), max(done, total, 1), 100.0, 0.0
    elif state == JobState.STARTED.value:
        eta = eta_model.running(info) if eta_model else raw.get("eta_s")
    elif state == JobState.QUEUED.value:
        done, percent = 0, 0.0
        eta = eta_model.queued(info) if eta_model else None
    progress = {"done": done, "total": total, "what": raw.get("what") or "",
                "percent": round(max(0.0, min(100.0, percent)), 1)}
    if raw.get("step") and state == JobState.STARTED.value:
        progress["step"] = raw["step"]
    return progress, eta


def job_view(info, eta_model=None, with_job: bool = False, sink=None) -> dict:
    """GET /v1/jobs/{id}: id, state, priority, attempts, progress, eta_s, record, links, times,
    title; `error` ({summary, detail}, describe.py) for failed and cancelled jobs. With `sink`
    (this server's output sink) a finished job's URLs are made now, in `links` and in the
    record's `download_url` and `links` alike."""
    state = info.state.value if hasattr(info.state, "value") else str(info.state)
    progress, eta = progress_with_eta(info, eta_model)
    record = info.record
    urls = fresh_urls(sink, info.id, record) if state == JobState.FINISHED.value else {}
    if urls:
        record = {**record, "download_url": urls.get("video", record.get("download_url")), "links": urls}
    view = {"id": info.id, "state": state, "priority": info.priority, "attempts": info.attempts,
            "progress": progress, "eta_s": eta, "submitted_at": info.submitted_at,
            "started_at": info.started_at, "finished_at": info.finished_at, "worker": info.worker,
            "retry_pending": info.retry_pending, "cancel_requested": info.cancel_requested,
            "record": record, "links": job_links(info.id, state, record, urls=urls)}
    record = record if isinstance(record, dict) else {}
    title = getattr(info, "title", None) or job_title(info.job) or record.get("title") or \
        job_title(record.get("job"))
    view["title"] = title if isinstance(title, str) else ""   # lists show it (the dashboard)
    if state in (JobState.FAILED.value, JobState.CANCELLED.value):
        view["error"] = describe_error(record)   # {summary, detail} in words; record.error stays raw
    if with_job:
        view["job"] = info.job
    return view
