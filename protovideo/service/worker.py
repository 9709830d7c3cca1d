"""The worker loop (RQ style): claim jobs, render them, record their outcomes, repeat.

    while not stopping:
        wait for a free slot              # MAX_JOBS jobs at once (default 1)
        claimed = source.claim()          # highest priority first; None when idle
        on a job thread of its own:
            job     = checker.parse(claimed)  # JobChecker; invalid -> failure record, never retried
            result  = render(job, ctx)        # in a thread; heartbeats renew the lease
            source.complete(...) | source.fail(..., retry_in) | source.release(...)
                                              | source.record_cancelled(...)

Cross-cutting concerns are middleware with typed hooks (protovideo.service.middleware,
one default list: metrics, memory watch, time limit, retries); before-hooks run in
list order, after-hooks in reverse, for each job; hooks run one at a time (a lock), so a
middleware never sees two jobs' hooks at once. One job's failure never stops the loop.

Several jobs at once (MAX_JOBS): a slot that frees claims the job the source ranks first
then (never claimed ahead, so a critical job queued later still goes before a low one
queued earlier); every job has its own lease and heartbeats, cancel event, time limit and
context (optimizer, cache); they share the runtime (models loaded once, one memory watch
whose critical level stops new claims and lowers every job's scene parallelism). With
MAX_JOBS=1 the loop is today's: claim, render, record, claim.

SIGTERM/SIGINT: stop claiming, let the jobs in progress finish within SHUTDOWN_GRACE, else
hand them back; a second signal hands them back at once.
A cancel request (`cancel JOB_ID`, DELETE /v1/jobs/{id}) reaches the worker with a
heartbeat (at most HEARTBEAT_MAX seconds apart): that job's render is stopped, nothing is
published, the job is recorded cancelled (never retried) and the others go on.
"""
from __future__ import annotations

import logging
import signal
import threading
import time
from functools import partial
from typing import Any, Callable

from jobmodel.backoff import Backoff
from jobmodel.errors import JobInvalid, error_record
from jobmodel.states import Outcome
from jobmodel.title import job_title
from protovideo.pipeline.jobcheck import JobChecker
from protovideo.pipeline.runtime import Runtime
from protovideo.runtime.settings import Settings
from protovideo.service.middleware import BEFORE_HOOKS, Middleware, default_middleware
from protovideo.service.sources.piece_tasks import PieceTask
from protovideo.service.sources.base import (ClaimedJob, JobSource, LeaseLost, cancel_record,
                                             default_worker_name, now_iso)
from protovideo.runtime.secrets import scrub
from protovideo.runtime.systemd import Notifier

log = logging.getLogger("protovideo.service.worker")

# Longest gap between two heartbeats: a cancel request is seen within this (plus the
# pipeline's next cancel check), well inside the 5 s the job API promises.
HEARTBEAT_MAX = 1.5


def delivered_fields(delivered) -> dict:
    """What the done record says of the delivered files (protovideo.pipeline.delivery.Delivered):
    `store`, `files` (role -> file name), `download_url` and `links` (role -> URL: presigned on S3,
    under API_PUBLIC_URL for OUTPUT_DIR); on S3 the places are s3:// names, never local paths."""
    at = delivered.locations
    fields = {"store": delivered.store, "files": dict(delivered.names),
              "download_url": delivered.urls.get("video"), "links": dict(delivered.urls)}
    if delivered.store != "local":
        fields.update(output=at.get("video"), report=at.get("report"), subtitles=delivered.subtitles)
        fields.update({role: at[role] for role in ("poster", "manifest") if role in at})
    return fields


def _pipeline_render(job, ctx, output_path=None):
    from protovideo.pipeline.split import render   # render_job, or split into piece tasks (SPLIT_SCENES)
    return render(job, ctx, output_path=output_path)


def _pipeline_context(runtime, log=None, progress=None, cancel=None):
    from protovideo.pipeline.render import make_context
    return make_context(runtime, log=log, progress=progress, cancel=cancel)


class Worker:
    def __init__(self, runtime: Runtime | Settings, source: JobSource, *,
                 render: Callable[..., Any] | None = None,
                 make_context: Callable[..., Any] | None = None,
                 middleware: list[Middleware] | None = None, once: bool = False,
                 name: str | None = None, max_jobs: int | None = None):
        """`runtime`: the process's (bare Settings get a runtime of their own: tests). The
        render and the job context are the runtime's (the pipeline's unless it was given
        others), or `render`/`make_context` when given here. `max_jobs`: jobs at once
        (default MAX_JOBS)."""
        self.runtime = Runtime.of(runtime)
        self.settings = self.runtime.settings
        self.source = source
        self.render = render or self.runtime.render or _pipeline_render
        self.make_context = make_context or self.runtime.make_context or _pipeline_context
        self.checker = JobChecker(self.settings)
        self.middleware = default_middleware(self.runtime) if middleware is None else middleware
        self.once = once
        self.name = name or getattr(source, "worker_name", None) or default_worker_name()
        self.max_jobs = max(1, int(max_jobs or self.settings.MAX_JOBS))
        self.running: dict[str, ClaimedJob] = {}   # job id -> the job, while it runs here
        self._job_threads: dict[int, threading.Thread] = {}   # one per running job
        self.stopping = False          # first signal: claim nothing more
        self.stop_now = False          # second signal: hand the jobs back at once
        self.stop_deadline = 0.0
        self.abandoned = 0             # render threads that never returned
        self.counts = {"done": 0, "failed": 0, "retried": 0, "released": 0, "cancelled": 0}
        self._lock = threading.Lock()        # running, job threads, counts, abandoned
        self._hook_lock = threading.RLock()  # one hook at a time, whichever job it is for
        self._wake = threading.Event()       # a stop signal, or a job ended (a slot is free)
        self.notifier = Notifier.from_environ()  # systemd Type=notify: READY=1, WATCHDOG=1
        # SPLIT_SCENES: the source's piece tasks, taken beside whole jobs; a coordinator puts its pieces there
        self.pieces = source.piece_tasks() if self.settings.SPLIT_SCENES and hasattr(source, "piece_tasks") \
            else None
        if self.pieces is not None:
            self.runtime.pieces = self.pieces

    @property
    def current(self) -> ClaimedJob | None:
        """One job this worker is running (the earliest claimed), or None."""
        with self._lock:
            return next(iter(self.running.values()), None)

    def _count(self, outcome: str) -> None:
        with self._lock:
            self.counts[outcome] += 1

    # ------------------------------------------------------------ hooks and signals
    def _hook(self, name: str, *args) -> list:
        """Call hook `name` on every middleware: before-hooks in list order, after-hooks
        in reverse (see middleware.base). A failing hook is logged; the others still run."""
        order = self.middleware if name in BEFORE_HOOKS else reversed(self.middleware)
        results = []
        with self._hook_lock:
            for m in order:
                try:
                    results.append(getattr(m, name)(self, *args))
                except Exception:
                    log.exception("middleware %s.%s failed", type(m).__name__, name)
        return results

    def request_stop(self, *_args) -> None:
        if self.stopping:
            log.warning("second stop signal: handing the jobs in progress back now")
            self.stop_now = True
        else:
            log.info("stop signal: no new jobs; waiting up to %.0fs for the jobs in progress",
                     self.settings.SHUTDOWN_GRACE)
            self.stopping = True
            self.stop_deadline = time.monotonic() + self.settings.SHUTDOWN_GRACE
        self._wake.set()

    def _install_signals(self) -> None:
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, self.request_stop)
            signal.signal(signal.SIGINT, self.request_stop)

    # ------------------------------------------------------------ the loop
    def run(self, install_signals: bool = True) -> int:
        if install_signals:
            self._install_signals()
        log.info("worker %s started (source=%s%s%s)", self.name, self.source.name,
                 ", once" if self.once else "",
                 f", {self.max_jobs} jobs at once" if self.max_jobs > 1 else "")
        self._hook("before_worker_boot")
        self.notifier.ready(f"taking jobs from {self.source.name}")
        failures = 0
        try:
            while not self.stopping:
                self.notifier.alive()
                if self._slots_full():   # woken early when a job ends
                    self._sleep(self.settings.POLL_INTERVAL)
                    continue
                if not all(self._hook("can_claim")):
                    self._sleep(self.settings.POLL_INTERVAL)
                    continue
                try:
                    claimed = self.pieces.claim_beside(self.source) if self.pieces else self.source.claim()
                    failures = 0
                except Exception as exc:   # the source is down: back off, never crash
                    failures += 1
                    log.error("cannot claim from %s: %s", self.source.name, exc)
                    self._sleep(Backoff(2 * self.settings.POLL_INTERVAL, 60.0).delay(failures))
                    continue
                if claimed is None:
                    if self.once and not self._jobs_running() and self.source.is_drained():
                        break
                    self._hook("after_idle")
                    self._sleep(self.settings.POLL_INTERVAL)
                    continue
                self._start(claimed)
        finally:
            if self._jobs_running() and not self.stopping:   # the loop itself failed
                self.request_stop()
            self._join_jobs()   # stopping: each job hands itself back at the grace's end
            self.notifier.stopping(f"stopping: {self.counts}")
            self._hook("after_worker_shutdown")
            self.source.close()
        log.info("worker %s stopped: %s", self.name, self.counts)
        return 0

    def _jobs_running(self) -> int:
        with self._lock:
            return len(self._job_threads)

    def _slots_full(self) -> bool:
        return self._jobs_running() >= self.max_jobs

    def _start(self, claimed: ClaimedJob) -> None:
        """Run `claimed` on a job thread of its own (process); its slot frees when it ends."""
        slot = id(claimed)   # not the job id: a job whose lease was lost may come back meanwhile

        def job() -> None:
            try:
                if isinstance(claimed, PieceTask):   # a piece of a split job (SPLIT_SCENES)
                    from protovideo.pipeline.split import make_piece
                    self.pieces.run(claimed, partial(make_piece, self.runtime))
                else:
                    self.process(claimed)
            finally:
                with self._lock:
                    self._job_threads.pop(slot, None)
                self._wake.set()

        thread = threading.Thread(target=job, name=f"job-{claimed.id}", daemon=True)
        with self._lock:
            self._job_threads[slot] = thread
        thread.start()

    def _join_jobs(self) -> None:
        """Wait for every job thread (watchdog pings meanwhile)."""
        while True:
            with self._lock:
                threads = list(self._job_threads.values())
            if not threads:
                return
            for thread in threads:
                thread.join(0.2)
                self.notifier.alive()

    def _sleep(self, seconds: float) -> None:
        """Wait (a stop signal wakes it early), pinging the systemd watchdog meanwhile."""
        deadline = time.monotonic() + seconds
        slice_s = self.notifier.ping_interval_s or seconds
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or self._wake.wait(min(left, slice_s)):
                break
            self.notifier.alive()
        self._wake.clear()

    # ------------------------------------------------------------ one job
    def process(self, claimed: ClaimedJob) -> None:
        """Parse, render and record one job (on its job thread); the memory watch counts it."""
        with self.runtime.memory.job():
            self._process(claimed)

    def _process(self, claimed: ClaimedJob) -> None:
        with self._lock:
            self.running[claimed.id] = claimed
        started_at = now_iso()
        log.info("job %s claimed (attempt %d, priority %s)", claimed.id, claimed.attempts,
                 claimed.priority)
        self._hook("before_process_job", claimed)
        ended = False   # an outcome's after-hook ran (processed, failed, cancelled)
        try:
            try:
                job = self._parse(claimed)
            except JobInvalid as exc:
                ended = True
                self._failed(claimed, exc)
                return
            outcome, value = self._run_render(claimed, job)
            if outcome == "done":
                record = self._result_record(claimed, value, started_at)
                self.source.complete(claimed, record)
                self._count("done")
                log.info("job %s done: %s", claimed.id, record["output"])
                ended = True
                self._hook("after_process_job", claimed, value)
                self._hook("after_job_ended", claimed, record)
            elif outcome == "release":
                self.source.release(claimed)
                self._count("released")
                log.info("job %s handed back to the queue", claimed.id)
            elif outcome == "cancelled":
                self._cancelled(claimed, started_at)
                ended = True
            elif outcome == "lost":
                log.error("job %s: lease lost; another worker has it now", claimed.id)
            else:
                ended = True
                self._failed(claimed, value)
        except LeaseLost as exc:
            log.error("%s", exc)
        except Exception:
            log.exception("job %s: recording its outcome failed", claimed.id)
        finally:
            if not ended:   # handed back, lease lost, or its outcome not recorded
                self._hook("after_job_released", claimed)
            with self._lock:
                if self.running.get(claimed.id) is claimed:
                    del self.running[claimed.id]

    def _parse(self, claimed: ClaimedJob):
        if claimed.decode_error is not None:
            raise claimed.decode_error
        return self.checker.parse(claimed.data, claimed.base_dir)

    def _failed(self, claimed: ClaimedJob, exc: BaseException) -> None:
        if claimed.cancel_error is not None:   # stopped by a middleware (TimeLimit): its error
            exc = claimed.cancel_error
        claimed.retry_in = None
        self._hook("after_job_failed", claimed, exc)
        error = scrub(error_record(exc))
        self.source.fail(claimed, error, retry_in=claimed.retry_in)
        if claimed.retry_in is None:
            self._count("failed")
            log.error("job %s failed: %s", claimed.id, exc)
            self._hook("after_job_ended", claimed, self.source.failure_record(claimed, error))
        else:
            self._count("retried")

    def _cancelled(self, claimed: ClaimedJob, started_at: str) -> None:
        job = claimed.job_data()
        record = cancel_record(claimed.id, "started", claimed.attempts, job, worker=self.name,
                               started_at=started_at)
        self.source.record_cancelled(claimed, record)
        self._count("cancelled")
        log.info("job %s cancelled while running; no output", claimed.id)
        self._hook("after_job_cancelled", claimed)
        self._hook("after_job_ended", claimed, record)

    def _result_record(self, claimed: ClaimedJob, result: Any, started_at: str) -> dict:
        report_path = getattr(result, "report_path", None)
        record = {"id": claimed.id, "status": Outcome.DONE.value, "output": str(result.output),
                  "title": job_title(claimed.data),
                  "duration_s": round(float(result.duration_s), 3),
                  "report": str(report_path) if report_path else getattr(result, "report", None),
                  "subtitles": [str(p) for p in getattr(result, "subtitles", ())],
                  "attempts": claimed.attempts, "worker": self.name,
                  "started_at": started_at, "finished_at": now_iso()}
        poster = getattr(result, "poster", None)
        if poster:
            record["poster"] = str(poster)   # SPEC "Outputs": the done record lists the poster
        if getattr(result, "manifest", None):
            record["manifest"] = str(result.manifest)   # <name>.manifest.json (provenance)
        if getattr(result, "qc", None) is not None:
            record["qc"] = result.qc                     # SPEC "Outputs": passed, figures, problems
        delivered = getattr(result, "delivered", None)
        if delivered is not None:   # SPEC "Storage": the files' places and the URLs a client fetches
            record.update(delivered_fields(delivered))
        return record

    def _run_render(self, claimed: ClaimedJob, job) -> tuple[str, Any]:
        """Render in a thread while this one keeps the lease and watches for signals."""
        box: dict[str, Any] = {}
        lease_lost = threading.Event()

        def progress(done: int, total: int, what: str = "", **more) -> None:   # more: percent, eta_s, step
            claimed.progress = {"done": done, "total": total, "what": what, **more}
            beat.set()

        def target() -> None:
            try:
                ctx = self.make_context(self.runtime, log=log, progress=progress,
                                        cancel=claimed.cancel)
                box["result"] = self.render(job, ctx, output_path=None)
            except BaseException as exc:   # noqa: BLE001 - everything is recorded
                box["error"] = exc

        beat = threading.Event()
        finished = threading.Event()
        heart = threading.Thread(target=self._heartbeats, args=(claimed, beat, finished, lease_lost),
                                 name=f"heartbeat-{claimed.id}", daemon=True)
        thread = threading.Thread(target=target, name=f"render-{claimed.id}", daemon=True)
        heart.start()
        thread.start()
        try:
            while thread.is_alive():
                thread.join(0.2)
                self.notifier.alive()
                if self.stop_now or (self.stopping and time.monotonic() >= self.stop_deadline):
                    claimed.request_cancel("shutdown")
                    thread.join(min(2.0, self.settings.SHUTDOWN_GRACE / 10))
                    if thread.is_alive():
                        with self._lock:
                            self.abandoned += 1
                    return ("done", box["result"]) if "result" in box else ("release", None)
                if lease_lost.is_set():
                    claimed.request_cancel("lease")
        finally:
            finished.set()
            beat.set()
            heart.join(5)
        if lease_lost.is_set():
            return "lost", None
        if "result" in box:
            return "done", box["result"]
        if claimed.cancel_reason == "shutdown":
            return "release", None
        if claimed.cancel_reason == "cancelled":
            return "cancelled", None
        return "error", box.get("error") or RuntimeError("render returned nothing")

    def _heartbeats(self, claimed: ClaimedJob, beat: threading.Event, finished: threading.Event,
                    lease_lost: threading.Event) -> None:
        interval = max(0.2, min(self.settings.LEASE_SECONDS / 3, HEARTBEAT_MAX))
        while not finished.is_set():
            beat.wait(interval)
            beat.clear()
            if finished.is_set():
                return
            try:
                self.source.heartbeat(claimed)
            except LeaseLost as exc:
                log.error("%s", exc)
                lease_lost.set()
                return
            except Exception as exc:
                log.warning("job %s: heartbeat failed: %s", claimed.id, exc)
            finished.wait(0.25)   # at most a few progress writes a second
