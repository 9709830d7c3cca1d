"""Helpers for the MAX_JOBS tests: a worker in this process over the real pipeline, with a
seam in every job's steps (the optimizer's on_step_start, set through the runtime's
make_context), and the reports' step intervals on one clock."""
from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Callable

from protovideo.pipeline.render import make_context as pipeline_context
from protovideo.pipeline.runtime import Runtime
from protovideo.service.sources.spool import SpoolSource
from protovideo.service.worker import Worker

# hook(ctx, job_id, step, scene): called as each step of each job starts, inside the step
StepHook = Callable[[object, str, str, "int | None"], None]


def seamed_runtime(settings, hook: StepHook, **parts) -> Runtime:
    """The process's runtime rendering with the real pipeline, `hook` in every job's steps."""
    def make_context(runtime, **kwargs):
        ctx = pipeline_context(runtime, **kwargs)
        ctx.optimizer.on_step_start = lambda job, step, scene: hook(ctx, job, step, scene)
        return ctx
    return Runtime.create(settings, make_context=make_context, **parts)


class WorkerThread:
    """A Worker (`max_jobs` at once) running `jobs` in a thread of this process (`once`: it
    stops when they are done, so they are queued before it starts)."""

    def __init__(self, runtime: Runtime, jobs: list[dict], max_jobs: int = 2, once: bool = True):
        self.source = SpoolSource(runtime.settings, worker_name="several")
        for job in jobs:
            self.source.submit(job)
        self.worker = Worker(runtime, self.source, once=once, max_jobs=max_jobs, name="several")
        self.thread = threading.Thread(target=self.worker.run, kwargs={"install_signals": False},
                                       daemon=True)

    def __enter__(self) -> "WorkerThread":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.worker.request_stop()
        self.thread.join(timeout=300)
        self.worker.runtime.close()
        assert not self.thread.is_alive(), "the worker did not stop"

    def join(self, timeout: float = 600.0) -> None:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the worker did not drain its queue"


def record(settings, folder: str, job_id: str) -> dict:
    return json.loads((settings.path("SPOOL_DIR") / folder / f"{job_id}.json").read_text())


def report(settings, job_id: str) -> dict:
    return json.loads((settings.path("REPORT_DIR") / f"{job_id}.json").read_text())


def absolute_intervals(rep: dict, step: str | None = None) -> list[tuple[float, float]]:
    """A report's step intervals on the wall clock (started_unix + seconds from the start)."""
    base = rep["started_unix"]
    return [(base + i["start"], base + i["end"]) for i in rep["intervals"]
            if step is None or i["step"] == step]


def overlap(a: list[tuple[float, float]], b: list[tuple[float, float]]) -> float:
    """Seconds during which some interval of `a` and some interval of `b` both ran."""
    return max((min(x1, y1) - max(x0, y0) for x0, x1 in a for y0, y1 in b), default=0.0)


def spoken_job(job_id: str, scenes: int = 2, **extra) -> dict:
    """A small real job: Piper narration per scene, titles, 160x284 draft."""
    job = {"id": job_id, "video": {"width": 160, "height": 284, "fps": 12, "quality": "draft"},
           "scenes": [{"narration_text": f"Scene {n} of job {job_id.replace('-', ' ')}.",
                       "text": {"content": f"{job_id} {n}"}} for n in range(scenes)]}
    job.update(extra)
    return job


def output(settings, job_id: str) -> Path:
    return settings.path("OUTPUT_DIR") / f"{job_id}.mp4"
