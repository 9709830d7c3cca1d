"""Batches: a template and its rows become one job per row; the batch's state; its one webhook.

    plan = plan_batch(template, rows, checker, base_dir)     # every row checked, nothing queued
    plan.errors      [{"row", "field", "message"}, ...]       ([] when every row is a valid job)
    batch = submit_batch(plan, source, store, callback_url=..., priority=...)
    view = batch_view(batch, source)                         # {"id","state","counts","jobs"}
    ended = job_ended(settings, record)                      # (url, payload) once the last job ends

A row's job is the template with the row's values added to its `variables` (a row's `id`
names the job; else `<batch>-<n>`, n counted from 1): the job keeps its template, so every
reading of it (the worker's, a retry's) fills the placeholders once from the same values.
Every row is checked by the one job checker before any job is queued; an invalid row
refuses the batch, with every problem of every row named. Once queued, the jobs are
independent: a failing job never stops the others. A batch's state is `queued` (no job has
started), `started` (some have, not all have ended) or `ended` (every job has), with counts
per job state. The webhook (with `batch_callback_url`) is queued by the process that ends
the batch's last job (protovideo.service.webhooks sends it: `batch.ended`).
"""
from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from jobmodel.batch_rows import ROW_ID, check_rows
from jobmodel.errors import JobInvalid
from jobmodel.spec import ID_RE
from jobmodel.states import JobState
from jobmodel.templates import VARIABLE_KEYS
from protovideo.service.batch_store import open_batch_store

log = logging.getLogger("protovideo.batches")

ENDED = (JobState.FINISHED, JobState.FAILED, JobState.CANCELLED)
BATCH_EVENT = "batch.ended"     # X-ProtoVideo-Event of a batch's one webhook: {"batch_id", "counts", "jobs"}
STATE_NAMES = [s.value for s in JobState]


@dataclass
class BatchPlan:
    id: str
    jobs: list[dict] = field(default_factory=list)     # each row's job JSON
    errors: list[dict] = field(default_factory=list)   # {"row", "field", "message"}
    base_dir: Path | None = None


def new_batch_id() -> str:
    return f"b{uuid.uuid4().hex[:12]}"


def row_job(template: dict, row: dict[str, str], job_id: str) -> dict:
    """The template with the row's values among its variables, named `job_id`."""
    key = next((k for k in VARIABLE_KEYS if k in template), "variables")
    own = template.get(key, {})
    job = {k: v for k, v in template.items() if k not in VARIABLE_KEYS}
    # a template's variables that are no object stay as they are: the checker names them
    job[key] = {**own, **row} if isinstance(own, dict) else own
    job["id"] = job_id
    return job


def plan_batch(template: Any, rows: Any, checker, base_dir: Path | None = None,
               batch_id: str | None = None) -> BatchPlan:
    """One job per row, each checked (the job checker: every problem of every row)."""
    plan = BatchPlan(batch_id or new_batch_id(), base_dir=base_dir)
    if not isinstance(template, dict):
        plan.errors.append({"row": None, "field": "template", "message": "must be a job object"})
        return plan
    try:
        rows = check_rows(rows)      # names, values as text, at most MAX_BATCH_ROWS
    except JobInvalid as exc:
        plan.errors.append({"row": _row_of(exc.field), "field": exc.field, "message": exc.message})
        return plan
    seen: dict[str, int] = {}
    for n, row in enumerate(rows, start=1):
        job_id = row.get(ROW_ID) or f"{plan.id}-{n}"
        if not ID_RE.match(job_id):
            plan.errors.append({"row": n, "field": ROW_ID,
                                "message": "must be 1-64 characters of A-Z, a-z, 0-9, '_' or '-'"})
            continue
        if job_id in seen:
            plan.errors.append({"row": n, "field": ROW_ID, "message": f"{job_id!r} is row {seen[job_id]}'s id too"})
            continue
        seen[job_id] = n
        job = row_job(template, row, job_id)
        for problem in checker.problems(job, base_dir):
            plan.errors.append({"row": n, **problem})
        plan.jobs.append(job)
    return plan


def _row_of(field_name: str) -> int | None:
    if field_name.startswith("rows[") and "]" in field_name:
        try:
            return int(field_name[5:field_name.index("]")])
        except ValueError:
            return None
    return None


def submit_batch(plan: BatchPlan, source, store=None, *, callback_url: str = "",
                 priority: str | None = None) -> dict:
    """Queue every job of a checked plan (the batch record first, so an early end finds it)."""
    if plan.errors:
        raise ValueError("a batch with errors is not queued")
    store = store or open_batch_store(source.settings, source)
    batch = {"id": plan.id, "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
             "jobs": [job["id"] for job in plan.jobs], "rows": len(plan.jobs),
             "callback_url": callback_url or "", "priority": priority or ""}
    store.create(batch)
    for job in plan.jobs:
        source.submit(job, priority=priority, base_dir=plan.base_dir)
    log.info("batch %s queued: %d jobs", plan.id, len(plan.jobs))
    return batch


def counts_of(states: list[str]) -> dict[str, int]:
    counts = {name: 0 for name in STATE_NAMES}
    for state in states:
        counts[state] = counts.get(state, 0) + 1
    return counts


def state_of(counts: dict[str, int]) -> str:
    total = sum(counts.values())
    ended = sum(counts.get(s.value, 0) for s in ENDED)
    if total and ended == total:
        return "ended"
    if counts.get("queued", 0) == total:
        return "queued"
    return "started"


def _job_summary(job_id: str, state: str, record: dict | None) -> dict:
    out: dict[str, Any] = {"id": job_id, "state": state}
    record = record or {}
    if state == JobState.FINISHED.value and record.get("download_url"):
        out["download_url"] = record["download_url"]
    if state == JobState.FAILED.value and isinstance(record.get("error"), dict):
        error = record["error"]
        out["error"] = {k: error[k] for k in ("type", "message", "field") if k in error}
    return out


def batch_view(batch: dict, source) -> dict:
    """{"id", "state", "counts", "jobs": [{"id", "state", ...}], "created_at"}: from the jobs' own states."""
    jobs = []
    for job_id in batch["jobs"]:
        info = source.get(job_id, with_job=False)   # its brief: state and record, not the job itself
        state = info.state.value if info is not None else "unknown"
        jobs.append(_job_summary(job_id, state, info.record if info is not None else None))
    counts = counts_of([j["state"] for j in jobs])
    return {"id": batch["id"], "state": state_of(counts), "counts": counts, "jobs": jobs,
            "created_at": batch.get("created_at")}


def job_ended(settings, record: dict, store=None) -> tuple[str, dict] | None:
    """Note a job's end in its batch (if it has one); (batch_callback_url, webhook payload)
    when this end is the batch's last and its webhook was claimed here, else None."""
    job_id = str(record.get("id") or "")
    state = str(record.get("status") or record.get("state") or "")
    state = "finished" if state == "done" else state
    if not job_id or state not in [s.value for s in ENDED] or settings.JOB_SOURCE not in ("spool", "redis"):
        return None
    store = store or open_batch_store(settings)
    batch_id = store.batch_of(job_id)
    if not batch_id:
        return None
    batch = store.get(batch_id)
    if batch is None or job_id not in batch["jobs"]:
        return None
    ended = store.note_end(batch_id, _job_summary(job_id, state, record))
    if ended < len(batch["jobs"]):
        return None
    store.ended_for_good(batch_id, batch["jobs"])
    if not batch.get("callback_url") or not store.claim_webhook(batch_id):
        return None
    summaries = store.ended(batch_id)
    jobs = [summaries.get(j, {"id": j, "state": "unknown"}) for j in batch["jobs"]]
    payload = {"batch_id": batch_id, "counts": counts_of([j["state"] for j in jobs]), "jobs": jobs}
    return batch["callback_url"], payload
