"""What a job needs from the worker around it, passed down the pipeline.

`runtime` is the process's (protovideo.pipeline.runtime): the memory watch, metrics and model
registry every job shares; `settings` is runtime.settings; the cache and optimizer are the job's.
`tracker` (protovideo.pipeline.progress) is the job's progress: the steps tell it the work they
begin and end, and it tells `progress` the step, percent and ETA.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Callable

from cache import ArtifactCache
from protovideo.pipeline.optimizer import PerformanceOptimizer
from protovideo.pipeline.progress import ProgressTracker
from protovideo.pipeline.runtime import Runtime
from protovideo.runtime.settings import Settings


@dataclass
class JobContext:
    runtime: Runtime
    settings: Settings
    cache: ArtifactCache
    optimizer: PerformanceOptimizer
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("protovideo"))
    # (done, total, what, percent=, eta_s=, step=): done/total in thousandths of the job
    progress: Callable[..., None] | None = None
    cancel: threading.Event = field(default_factory=threading.Event)
    tracker: ProgressTracker | None = None
    credits: dict = field(default_factory=dict)   # scene index -> its stock asset's credit (generators/stock)

    def __post_init__(self) -> None:
        if self.tracker is None:   # nobody listening: the tracker still keeps the figures for the report
            self.tracker = ProgressTracker(self.report_progress if self.progress is not None else None)

    def report_progress(self, done: int, total: int, what: str, **more) -> None:
        if self.progress is not None:
            self.progress(done, total, what, **more)

    def check_cancelled(self) -> None:
        if self.cancel.is_set():
            from jobmodel.errors import JobFailed
            raise JobFailed("the job was cancelled (worker stopping or time limit reached)")
