"""How a job looks in the API: state, progress in percent, ETA, record and links."""
from __future__ import annotations

from pathlib import Path

from jobmodel.states import JobState
from jobmodel.title import job_title
from protovideo.service.api.describe import describe_error


def job_links(job_id: str, state: str, record: dict | None) -> dict:
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
    elif state == JobState.FAILED.value:
        links["report"] = f"{base}/report"
    return links


def _beside(record: dict, suffix: str) -> Path:
    output = record.get("output") or ""
    return Path(output).with_suffix(suffix) if output else Path("/nonexistent")


def progress_with_eta(info, eta_model) -> tuple[dict, float | None]:
    """The progress object with `percent`, and the ETA in seconds (None when unknown)."""
    raw = dict(info.progress or {})
    done, total = int(raw.get("done") or 0), int(raw.get("total") or 0)
    state = info.state.value if hasattr(info.state, "value") else str(info.state)
    percent = 100.0 * done / total if total else 0.0
    eta = None
    if state == JobState.FINISHED.value:
        percent = 100.0
        eta = 0.0
    elif state == JobState.STARTED.value:
        expected = eta_model.expected_total(total) if eta_model else None
        if expected:
            eta = eta_model.estimate(total, info.started_at)
            percent = max(percent * 0.9, 100.0 * (1 - eta / expected) if expected else 0.0)
        percent = min(percent, 99.0)   # the last steps (join, mux, report) follow the scenes
    elif state == JobState.QUEUED.value:
        percent = 0.0
        expected = eta_model.expected_total(total or _scene_count(info.job)) if eta_model else None
        eta = round(expected, 1) if expected else None
    return ({"done": done, "total": total, "what": raw.get("what") or "",
             "percent": round(max(0.0, min(100.0, percent)), 1)}, eta)


def _scene_count(job) -> int:
    scenes = job.get("scenes") if isinstance(job, dict) else None
    return len(scenes) if isinstance(scenes, list) else 0


def job_view(info, eta_model=None, with_job: bool = False) -> dict:
    """GET /v1/jobs/{id}: id, state, priority, attempts, progress, eta_s, record, links, times,
    title; `error` ({summary, detail}, describe.py) for failed and cancelled jobs."""
    state = info.state.value if hasattr(info.state, "value") else str(info.state)
    progress, eta = progress_with_eta(info, eta_model)
    view = {"id": info.id, "state": state, "priority": info.priority, "attempts": info.attempts,
            "progress": progress, "eta_s": eta, "submitted_at": info.submitted_at,
            "started_at": info.started_at, "finished_at": info.finished_at, "worker": info.worker,
            "retry_pending": info.retry_pending, "cancel_requested": info.cancel_requested,
            "record": info.record, "links": job_links(info.id, state, info.record)}
    record = info.record if isinstance(info.record, dict) else {}
    title = getattr(info, "title", None) or job_title(info.job) or record.get("title") or \
        job_title(record.get("job"))
    view["title"] = title if isinstance(title, str) else ""   # lists show it (the dashboard)
    if state in (JobState.FAILED.value, JobState.CANCELLED.value):
        view["error"] = describe_error(record)   # {summary, detail} in words; record.error stays raw
    if with_job:
        view["job"] = info.job
    return view
