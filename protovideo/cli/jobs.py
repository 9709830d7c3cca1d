"""Commands on jobs: `list [--state S] [--json]`, `cancel JOB_ID`, `validate JOB.json`.

`list` and `cancel` read the configured job source (spool or Redis) and never create
folders; `validate` reads only the job file.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from protovideo.pipeline.jobcheck import JobChecker
from protovideo.runtime.secrets import redact
from protovideo.service.webhooks import final_listener
from protovideo.service.sources import (BadCursor, JobNotCancellable, JobNotFound, JobState,
                                        open_source)


def _open(settings, what: str):
    try:
        return open_source(settings, worker_name=what, create=False), ""
    except FileNotFoundError as exc:
        return None, (f"error: {exc}; run from the worker's folder, set SPOOL_DIR, "
                      "or submit a job first")
    except Exception as exc:   # noqa: BLE001 - Redis down, bad URL...
        return None, f"error: cannot open job source {settings.JOB_SOURCE}: {redact(str(exc))}"


def _on_source(settings, what: str, failing: str, action, *, usage=(), refused=()):
    """(action(source), 0) on the configured job source, closed after; an error is printed
    and gives (None, 2) for `usage` errors, (None, 1) for `refused` ones and any other."""
    source, problem = _open(settings, what)
    if source is None:
        print(problem, file=sys.stderr)
        return None, 1
    try:
        return action(source), 0
    except usage + refused as exc:
        print(f"error: {exc}", file=sys.stderr)
        return None, 2 if isinstance(exc, usage) else 1
    except Exception as exc:   # noqa: BLE001 - Redis down, a broken folder...
        print(f"error: cannot {failing} {settings.JOB_SOURCE}: {redact(str(exc))}", file=sys.stderr)
        return None, 1
    finally:
        source.close()


def list_command(args, settings) -> int:
    listed, code = _on_source(settings, "list", "list jobs of", lambda source: source.list_jobs(
        state=args.state, priority=args.priority, limit=args.limit, cursor=args.cursor),
        usage=(ValueError, BadCursor))
    if code:
        return code
    jobs, next_cursor = listed
    if getattr(args, "json", False):
        print(redact(json.dumps({"jobs": [j.to_dict(with_job=False) for j in jobs],
                                 "next_cursor": next_cursor}, indent=2, ensure_ascii=False)))
        return 0
    if not jobs:
        print("no jobs" + (f" in state {args.state}" if args.state else ""), file=sys.stderr)
    for info in jobs:
        print(redact(format_line(info)))
    if next_cursor:
        print(f"more: list --cursor {next_cursor}", file=sys.stderr)
    return 0


def format_line(info) -> str:
    detail = ""
    if info.state is JobState.STARTED:
        detail = f"{info.progress['percent']:.0f}% {info.progress.get('what') or ''}".rstrip()
        if info.cancel_requested:
            detail += " (cancel requested)"
    elif info.state is JobState.QUEUED and info.retry_pending:
        detail = "waiting for a retry"
    elif info.state is JobState.FINISHED:
        detail = str((info.record or {}).get("output") or "")
    elif info.state is JobState.FAILED:
        error = (info.record or {}).get("error") or {}
        detail = f"{error.get('type')}: {error.get('message')}"
    submitted = (info.submitted_at or "")[:19].replace("T", " ")
    return f"{info.id:<24} {info.state.value:<9} {info.priority:<8} {submitted:<19} {detail}".rstrip()


def cancel_command(args, settings) -> int:
    def cancel(source):
        source.add_final_listener(final_listener(settings))   # job.cancelled webhook
        info = source.cancel(args.job_id)
        if info.state is JobState.STARTED and getattr(args, "wait", False):
            deadline = time.monotonic() + 60
            while info.state is JobState.STARTED and time.monotonic() < deadline:
                time.sleep(0.2)
                info = source.get(args.job_id, with_job=False) or info
        return info

    info, code = _on_source(settings, "cancel", "cancel on", cancel,
                            refused=(JobNotFound, JobNotCancellable))
    if code:
        return code
    if info.state is JobState.CANCELLED:
        print(f"{info.id}: cancelled")
    elif info.state is JobState.STARTED:
        print(f"{info.id}: cancel requested; its worker stops it within seconds, publishes nothing "
              "and records it cancelled")
    else:   # it ended on its own first (--wait)
        print(f"{info.id}: {info.state.value} before the cancel took effect")
        return 1
    return 0


def validate_command(args, settings) -> int:
    if getattr(args, "rows", None):
        from protovideo.cli.batch import validate_batch_command
        return validate_batch_command(args, settings)
    path = Path(args.job)
    problems = JobChecker(settings).file_problems(path)
    if getattr(args, "json", False):
        print(json.dumps({"valid": not problems, "errors": problems}, indent=2, ensure_ascii=False))
    elif problems:
        print(f"{path}: {len(problems)} problem{'s' if len(problems) > 1 else ''}:", file=sys.stderr)
        for item in problems:
            print(f"  {item['field']}: {item['message']}", file=sys.stderr)
    else:
        print(f"{path}: valid")
    return 2 if problems else 0
