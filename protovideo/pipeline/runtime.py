"""The runtime: the process-wide things, made once by the entry point and handed down.

    runtime = Runtime.create(settings).install()   # protovideo.cli.main, once per process
    worker = Worker(runtime, source)               # the worker and its middleware take it
    ctx = make_context(runtime, progress=...)      # so does every job's context
    runtime.close()                                # stops what was started on it

It holds what every job of a process shares: the settings; the memory watch (its thresholds
a MemoryConfig of the settings); the metrics registry; the model registry (heavy models
loaded once; the watch unloads the idlest when memory is critical); the cache config; and
what renders a job, `render` and `make_context` (None: the pipeline's; tests hand a fake
render to Runtime.create instead of patching a module). The entry layer starts the metrics endpoint
on it (`metrics_server`: protovideo.service.metrics_server.serve_metrics) and close() stops
it; `webhooks` is the place of the webhook deliverer, stopped the same way (the webhooks
module still runs its own; it moves here when that module hands one over).

Every job of the process shares it, also several at once (MAX_JOBS: the worker's job threads):
one copy of each model, one memory watch that counts the jobs running.

Code is handed the runtime; nothing below the entry point makes the process's. The one way
around that is for the job API's routes, which are not handed it yet: install() makes its
watch and metrics the ones memory_watch.shared_watch() and metrics.shared_metrics() give.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from cache.config import CacheConfig
from generators import glyphs
from generators.models import MODELS, ModelRegistry
from protovideo.pipeline import memory_watch as memory_watch_module
from protovideo.pipeline import metrics as metrics_module
from protovideo.pipeline.memory_watch import MemoryConfig, MemoryWatch
from protovideo.pipeline.metrics import Metrics
from protovideo.runtime.settings import Settings


@dataclass(eq=False)
class Runtime:
    settings: Settings
    memory: MemoryWatch
    metrics: Metrics
    models: ModelRegistry
    cache: CacheConfig
    render: Callable[..., Any] | None = None        # (job, ctx, output_path); None: render_job
    make_context: Callable[..., Any] | None = None  # (runtime, log=, progress=, cancel=); None: make_context
    metrics_server: Any = None   # the /metrics endpoint while served (has stop())
    webhooks: Any = None         # the webhook deliverer, once handed over (has stop())
    pieces: Any = None           # piece tasks of the job source (SPLIT_SCENES; the worker sets it): split.py

    @classmethod
    def create(cls, settings: Settings, *, models: ModelRegistry | None = None,
               memory: MemoryWatch | None = None, render: Callable[..., Any] | None = None,
               make_context: Callable[..., Any] | None = None) -> "Runtime":
        """A runtime for these settings; each part may be handed in instead (tests)."""
        glyphs.use_extra_fonts(settings.EXTRA_FONTS)   # the font chain is the process's
        models = MODELS if models is None else models
        memory = memory or MemoryWatch(MemoryConfig.from_settings(settings), models=models)
        return cls(settings, memory, Metrics(memory), models, settings.cache_config(),
                   render, make_context)

    @classmethod
    def of(cls, given: "Runtime | Settings") -> "Runtime":
        """`given` when it is a runtime; for bare Settings, a runtime of their own (a test or a
        one-off tool that brings none; the process's is never made here)."""
        return given if isinstance(given, Runtime) else cls.create(given)

    def install(self) -> "Runtime":
        """Make this the process's runtime for the code not yet handed it (the job API's
        routes: shared_watch(), shared_metrics()). The entry point does, once."""
        memory_watch_module.INSTALLED.install(self.memory)
        metrics_module.INSTALLED.install(self.metrics)
        return self

    def close(self) -> None:
        """Stop what was started on this runtime (the metrics endpoint, a webhook deliverer)."""
        for name in ("webhooks", "metrics_server"):
            started = getattr(self, name)
            setattr(self, name, None)
            if started is not None:
                started.stop()
        memory_watch_module.INSTALLED.uninstall(self.memory)
        metrics_module.INSTALLED.uninstall(self.metrics)
