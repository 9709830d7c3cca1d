"""Batches on the command line: `submit TEMPLATE.json --rows ROWS.csv|ROWS.json`, `batch BATCH_ID`
and `validate TEMPLATE.json --rows ROWS` (every row checked, nothing queued).

`submit --rows` checks every row's job first (the one job checker) and queues nothing when
any row is invalid: each problem is printed as `row N: FIELD: message`, exit 2. Otherwise it
queues one job per row and prints the batch id. `batch BATCH_ID [--json]` prints the batch's
state, its counts per job state and each job's state.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from jobmodel.batch_rows import read_rows_file
from jobmodel.errors import JobInvalid
from jobmodel.jobfile import read_job_file
from protovideo.pipeline.jobcheck import JobChecker
from protovideo.runtime.secrets import redact
from protovideo.service.batch_store import open_batch_store
from protovideo.service.batches import batch_view, plan_batch, submit_batch
from protovideo.service.sources import open_source
from protovideo.service.webhooks import check_callback_url


def _problem_line(item: dict) -> str:
    where = f"row {item['row']}: " if item.get("row") else ""
    return f"  {where}{item['field']}: {item['message']}"


def _plan(args, settings):
    """(the plan, the batch callback URL), or None after printing why the batch is refused."""
    path, rows_path = Path(args.job), Path(args.rows)
    try:
        template = read_job_file(path)
        rows = read_rows_file(rows_path)
        callback = check_callback_url(args.batch_callback, settings, "batch_callback_url") \
            if getattr(args, "batch_callback", None) else ""
    except JobInvalid as exc:
        print(f"error: invalid batch: {exc}", file=sys.stderr)
        return None
    plan = plan_batch(template, rows, JobChecker(settings), path.resolve().parent)
    if plan.errors:
        rows_bad = len({e.get("row") for e in plan.errors})
        print(f"error: {rows_path}: {len(plan.errors)} problem{'s' if len(plan.errors) > 1 else ''} in "
              f"{rows_bad} row{'s' if rows_bad > 1 else ''}; the batch is refused, nothing queued:", file=sys.stderr)
        for item in plan.errors:
            print(_problem_line(item), file=sys.stderr)
        return None
    return plan, callback


def validate_batch_command(args, settings) -> int:
    """`validate TEMPLATE.json --rows ROWS`: every row's job checked, nothing queued."""
    planned = _plan(args, settings)
    if planned is None:
        return 2
    print(f"{args.job} with {args.rows}: {len(planned[0].jobs)} valid jobs")
    return 0


def submit_batch_command(args, settings) -> int:
    planned = _plan(args, settings)
    if planned is None:
        return 2
    plan, callback = planned
    try:
        source = open_source(settings, worker_name="submit")
        try:
            batch = submit_batch(plan, source, open_batch_store(settings, source), callback_url=callback,
                                 priority=getattr(args, "priority", None))
        finally:
            source.close()
    except Exception as exc:   # noqa: BLE001 - Redis down, a spool that cannot be written...
        print(f"error: cannot submit to {settings.JOB_SOURCE}: {redact(str(exc))}", file=sys.stderr)
        return 1
    print(f"{len(batch['jobs'])} jobs queued: {batch['jobs'][0]} .. {batch['jobs'][-1]}", file=sys.stderr)
    print(batch["id"])
    return 0


def batch_command(args, settings) -> int:
    try:
        source = open_source(settings, worker_name="batch", create=False)
    except FileNotFoundError as exc:
        print(f"error: {exc}; run from the worker's folder or set SPOOL_DIR", file=sys.stderr)
        return 1
    except Exception as exc:   # noqa: BLE001
        print(f"error: cannot open job source {settings.JOB_SOURCE}: {redact(str(exc))}", file=sys.stderr)
        return 1
    try:
        store = open_batch_store(settings, source)
        batch = store.get(args.batch_id)
        if batch is None:
            print(f"error: no batch {args.batch_id!r} on record", file=sys.stderr)
            return 1
        view = batch_view(batch, source)
    except Exception as exc:   # noqa: BLE001
        print(f"error: cannot read batch from {settings.JOB_SOURCE}: {redact(str(exc))}", file=sys.stderr)
        return 1
    finally:
        source.close()
    if getattr(args, "json", False):
        print(json.dumps(view, indent=2, ensure_ascii=False))
        return 0
    counts = ", ".join(f"{n} {state}" for state, n in view["counts"].items() if n)
    print(f"batch {view['id']}: {view['state']} ({counts})")
    for job in view["jobs"]:
        detail = job.get("error", {}).get("message", "") if job["state"] == "failed" else ""
        print(f"  {job['id']:<28} {job['state']:<9} {detail}".rstrip())
    return 0
