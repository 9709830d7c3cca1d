"""`python main_worker.py render JOB.json [-o OUT.mp4]`: render one job in-process.

Exit codes: 0 done, 1 the job failed while running, 2 the job is invalid.
"""
from __future__ import annotations

import functools
import sys
import time
from pathlib import Path

from jobmodel.errors import JobFailed, JobInvalid
from protovideo.cli.progress_text import duration_text, progress_text
from protovideo.pipeline.jobcheck import JobChecker
from protovideo.runtime.secrets import redact


class TerminalProgress:
    """A job's progress as it renders: on a terminal a bar (rich) with the step, percent and ETA;
    elsewhere (logs, pipes) one line each time the step changes ("scene 2 of 5", "join", ...)."""

    def __init__(self, stream=sys.stderr, quiet: bool = False):
        self.stream = stream
        self.quiet = quiet
        self.tty = stream.isatty()
        self.start = time.monotonic()
        self._what = None
        self._bar = None
        self._task = None

    def __call__(self, done: int, total: int, what: str, eta_s: float | None = None, **more) -> None:
        if self.quiet:
            return
        if self.tty:
            self._draw(done, total, what, eta_s)
        elif what != self._what:
            percent = 100.0 * done / total if total else 0.0
            line = progress_text({"what": what, "percent": percent}, eta_s)
            self.stream.write(f"[{time.monotonic() - self.start:6.1f}s] {line}\n")
            self.stream.flush()
        self._what = what

    def _draw(self, done: int, total: int, what: str, eta_s: float | None) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
        left = f"about {duration_text(eta_s)} left" if eta_s else ""   # 0: it has ended
        if self._bar is None:
            self._bar = Progress(TextColumn("{task.description:<18}"), BarColumn(), TaskProgressColumn(),
                                 TextColumn("{task.fields[left]}"), TimeElapsedColumn(),
                                 console=Console(file=self.stream), transient=False)
            self._bar.start()
            self._task = self._bar.add_task(what, total=total or 1, left="")
        self._bar.update(self._task, completed=done, total=total or 1, description=what, left=left)

    def finish(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


def render_command(args, runtime) -> int:
    from protovideo.runtime.logs import setup_logging
    settings = runtime.settings
    setup_logging(settings, console_level="warning")  # the terminal shows progress, the log file the rest
    try:
        job = JobChecker(settings).read(args.job)
    except JobInvalid as exc:
        print(f"invalid job: {exc}", file=sys.stderr)
        return 2
    from protovideo.pipeline import render as pipeline
    render_job = runtime.render or functools.partial(pipeline.render_job, replace=True)   # a person
    # rendering a job again on purpose gets the new files under the same names (the worker never replaces)
    progress = TerminalProgress(quiet=getattr(args, "quiet", False))
    ctx = (runtime.make_context or pipeline.make_context)(runtime, progress=progress)
    output = Path(args.output).resolve() if args.output else None
    try:
        result = render_job(job, ctx, output)
    except JobInvalid as exc:
        progress.finish()
        print(f"invalid job: {exc}", file=sys.stderr)
        return 2
    except JobFailed as exc:
        progress.finish()
        print(redact(f"job failed: {exc}"), file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - an unexpected error still ends as exit 1
        progress.finish()
        ctx.log.exception("job %s failed", job.id)
        print(redact(f"job failed: {type(exc).__name__}: {exc}"), file=sys.stderr)
        return 1
    progress.finish()
    report = result.report
    print(f"rendered {job.id}: {result.duration_s:.1f} s of video in {report.get('total_time', 0):.1f} s "
          f"(cache hit rate {report.get('cache_stats', {}).get('hit_rate', 0):.0%})", file=sys.stderr)
    print(f"report: {result.report_path}", file=sys.stderr)
    if getattr(result, "poster", None):
        print(f"poster: {result.poster}", file=sys.stderr)
    if getattr(result, "manifest", None):
        print(f"manifest: {result.manifest}", file=sys.stderr)
    delivered = getattr(result, "delivered", None)
    if delivered is not None and delivered.store != "local" and delivered.urls.get("video"):
        print(f"url: {delivered.urls['video']}", file=sys.stderr)   # presigned, valid URL_TTL s
    qc = getattr(result, "qc", None)
    if qc is not None and not qc.get("passed"):
        print("QC: " + "; ".join(p["message"] for p in qc.get("problems", [])), file=sys.stderr)
    print(result.output)
    return 0
