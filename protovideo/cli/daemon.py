"""Commands for the queue: `run [--once]`, `submit JOB.json [--priority P]`, `status [JOB_ID] [--json]`."""
from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path

from jobmodel.errors import JobInvalid
from jobmodel.jobfile import read_job_file
from jobmodel.states import JobState
from protovideo.cli.progress_text import duration_text, progress_text
from protovideo.runtime.secrets import redact
from protovideo.runtime.logs import setup_logging
from protovideo.service.sources import PRIORITIES, open_source
from protovideo.pipeline.jobcheck import JobChecker

log = logging.getLogger("protovideo.daemon")


def run_command(args, runtime) -> int:
    """The daemon over the process's runtime (main closes it, and with it the metrics endpoint)."""
    from protovideo.runtime.settings import SettingsError
    from protovideo.runtime.startinfo import describe_start
    from protovideo.service.metrics_server import serve_metrics
    from protovideo.service.worker import Worker
    settings = runtime.settings
    setup_logging(settings)
    log.info("%s", describe_start(settings))
    try:
        serve_metrics(runtime)  # a taken METRICS_PORT stops the start here, by name
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        source = open_source(settings)
    except Exception as exc:
        print(f"error: cannot open job source {settings.JOB_SOURCE}: {redact(str(exc))}", file=sys.stderr)
        return 1
    once = bool(getattr(args, "once", False))
    worker = Worker(runtime, source, once=once)
    api = None
    if getattr(args, "serve", False):
        from protovideo.cli.serve import start_api_beside_worker
        api = start_api_beside_worker(settings)
        if api is None:
            source.close()
            return 2
    try:
        code = worker.run()
    finally:
        if api is not None:
            api.stop()
    if once and worker.counts.get("failed"):
        code = code or 1  # SPEC: `run --once` exits 1 when any job it took failed
    if worker.abandoned:
        # a render thread ignored the cancel request; do not wait for it at exit
        runtime.close()
        logging.shutdown()
        sys.stdout.flush()
        os._exit(code)
    return code


def submit_command(args, settings) -> int:
    if getattr(args, "rows", None):
        from protovideo.cli.batch import submit_batch_command
        return submit_batch_command(args, settings)
    path = Path(args.job)
    try:
        data = read_job_file(path)                   # refuse a bad job before it is queued,
        job = JobChecker(settings).parse(data, path.resolve().parent, callback=True)  # its webhook too
    except JobInvalid as exc:
        print(f"error: {path}: invalid job: {exc}", file=sys.stderr)
        return 2
    data["id"] = job.id
    priority = getattr(args, "priority", None)
    try:
        source = open_source(settings, worker_name="submit")
        result = source.submit(data, priority=priority, base_dir=path.resolve().parent)
        source.close()
    except Exception as exc:
        print(f"error: cannot submit to {settings.JOB_SOURCE}: {exc}", file=sys.stderr)
        return 1
    if not result.created:
        print(f"job {result.id} is already {result.state.value}; not queued again", file=sys.stderr)
    print(result.id)
    return 0


def missing_spool(settings) -> str:
    """'' when the spool folders exist; else an error naming the folder and SPOOL_DIR.

    Commands that only read (status, list) never create the spool: run from the wrong
    folder they would otherwise report an empty queue instead of the real one.
    """
    if settings.JOB_SOURCE != "spool":
        return ""
    root = settings.path("SPOOL_DIR")
    if not (root / "incoming").is_dir():
        return (f"error: no spool at {root} (SPOOL_DIR={settings.SPOOL_DIR}); run from the "
                "worker's folder, set SPOOL_DIR, or submit a job first")
    return ""


def status_command(args, settings) -> int:
    job_id = getattr(args, "job_id", None)
    problem = missing_spool(settings)
    if problem:
        print(problem, file=sys.stderr)
        return 1
    try:
        source = open_source(settings, worker_name="status", create=False)
        info = source.status(job_id)
        if job_id and info.get("state") in (JobState.QUEUED, JobState.STARTED):
            info = {**info, "eta_s": job_eta(settings, source, job_id)}
        source.close()
    except Exception as exc:
        print(f"error: cannot read status from {settings.JOB_SOURCE}: {redact(str(exc))}",
              file=sys.stderr)
        return 1
    if settings.JOB_SOURCE == "spool":
        info = {**info, "spool_dir": str(settings.path("SPOOL_DIR"))}
    if getattr(args, "json", False):
        print(redact(json.dumps(info, indent=2, ensure_ascii=False)))
    else:
        print(redact(format_status(info)))
    return 1 if job_id and info.get("state") == "unknown" else 0


def job_eta(settings, source, job_id: str) -> float | None:
    """Seconds until the job is finished: a running job's from its worker, a queued one's from its
    place in the queue (the job API's estimate, protovideo.service.api.eta)."""
    from protovideo.service.api.eta import EtaModel
    try:
        info = source.get(job_id)
        if info is None:
            return None
        model = EtaModel(settings, source)
        return model.running(info) if info.state is JobState.STARTED else model.queued(info)
    except Exception:   # noqa: BLE001 - a source that cannot list its queue (http) has no ETA to give
        log.debug("no ETA for %s", job_id, exc_info=True)
        return None


def format_status(info: dict) -> str:
    if "state" not in info:
        queued = info.get("queued", {})
        by_priority = ", ".join(f"{p} {queued.get(p, 0)}" for p in PRIORITIES)
        lines = [f"source: {info.get('source')}"
                 + (f" ({info['spool_dir']})" if info.get("spool_dir") else ""),
                 f"queued: {info.get('queued_total', 0)} ({by_priority})"]
        if info.get("retry_pending"):
            lines.append(f"waiting for a retry: {info['retry_pending']}")
        for key in ("started", "finished", "failed", "cancelled", "dead_letter"):
            if key in info:
                lines.append(f"{key}: {info[key]}")
        return "\n".join(lines)
    state = info["state"]
    line = f"{info['id']}: {state}"
    if state == JobState.STARTED:
        progress = info.get("progress") or {}
        if progress.get("total"):
            line += ", " + progress_text(progress, info.get("eta_s"))   # the step, percent and ETA
        if info.get("attempts"):
            line += f", attempt {info['attempts']}"
        if info.get("cancel_requested"):
            line += ", cancel requested"
    elif state == JobState.QUEUED:
        line += f", priority {info.get('priority', 'normal')}"
        if info.get("retry_pending"):
            line += ", waiting for a retry"
        if info.get("eta_s") is not None:
            line += f", done in about {duration_text(info['eta_s'])}"   # its place in the queue
    elif state == JobState.FINISHED:
        record = info.get("record") or {}
        line += f", output {record.get('output')}"
    elif state == JobState.FAILED:
        error = (info.get("record") or {}).get("error") or {}
        line += f": {error.get('type')}: {error.get('message')}"
    elif state == JobState.CANCELLED:
        record = info.get("record") or {}
        line += f" (while {record.get('was', 'queued')}) at {record.get('finished_at')}"
    return line
