"""Memory watch: process RSS and GPU memory against the configured thresholds.

    watch = MemoryWatch(MemoryConfig.from_settings(settings), models=registry)
                                       # one per process, in its Runtime (protovideo.pipeline.runtime)
    level = watch.check()              # "ok" | "warning" | "critical"
    watch.paused                       # True: the daemon must not claim new jobs
    watch.parallelism(4)               # scene threads allowed right now (each running job's)
    with watch.job():                  # the worker, around each job it runs (MAX_JOBS)
        watch.jobs_running             # jobs sharing this process's memory now

Levels and what they do (`relieve(level)` is the one place memory is given back;
PerformanceOptimizer.optimize_memory is the pipeline's door to it, after every job):
- ok (after a job): freed heap pages go back to the system (malloc_trim).
- warning (RSS >= MEMORY_WARNING_THRESHOLD or GPU >= GPU_MEMORY_WARNING_THRESHOLD):
  log, collect garbage, trim.
- critical (>= the *_CRITICAL_THRESHOLD): also free caches (registered hooks),
  unload the model idle the longest (the runtime's model registry), empty the CUDA
  cache, halve scene parallelism, and pause claiming. Claiming and parallelism
  come back only once memory is under the warning line again (hysteresis), so
  the state outlives the job that caused it.

GPU memory is read only when torch is already imported and CUDA is available;
this module never imports torch itself.

With several jobs at once (MAX_JOBS) the watch is still the process's: RSS cannot be told apart by
job, so the critical level stops new claims and lowers the parallelism of every running job, and
each job's report says how many jobs shared the memory it measured (`jobs_at_once`).
"""
from __future__ import annotations

import contextlib
import gc
import inspect
import logging
import sys
import threading
import time
import weakref
from dataclasses import dataclass
from typing import Any, Callable

import psutil

from generators import models
from protovideo.pipeline.installed import Installed
from protovideo.runtime.malloc_tuning import trim
from protovideo.runtime.settings import Settings


OK, WARNING, CRITICAL = "ok", "warning", "critical"
_RANK = {OK: 0, WARNING: 1, CRITICAL: 2}

log = logging.getLogger("protovideo.memory")


@dataclass(frozen=True)
class MemoryConfig:
    """The thresholds, MB: RSS (MEMORY_*_THRESHOLD) and GPU (GPU_MEMORY_*_THRESHOLD)."""
    warning_mb: float
    critical_mb: float
    gpu_warning_mb: float
    gpu_critical_mb: float

    @classmethod
    def from_settings(cls, settings: Settings) -> "MemoryConfig":
        return cls(float(settings.MEMORY_WARNING_THRESHOLD), float(settings.MEMORY_CRITICAL_THRESHOLD),
                   float(settings.GPU_MEMORY_WARNING_THRESHOLD),
                   float(settings.GPU_MEMORY_CRITICAL_THRESHOLD))


@dataclass(frozen=True)
class MemorySample:
    rss_mb: float
    gpu_mb: float | None   # None: no GPU in use by this process


def process_rss_mb() -> float:
    return psutil.Process().memory_info().rss / 2**20


def torch_gpu_mb() -> float | None:
    """MB of GPU memory this process holds (reserved by torch), or None without CUDA."""
    torch = sys.modules.get("torch")
    if torch is None:
        return None
    try:
        cuda = torch.cuda
        if not cuda.is_available():
            return None
        if not cuda.is_initialized():
            return 0.0
        return sum(cuda.memory_reserved(i) for i in range(cuda.device_count())) / 2**20
    except Exception:  # noqa: BLE001 - a broken driver must not stop the worker
        return None


class MemoryWatch:
    def __init__(self, config: MemoryConfig, *, models: models.ModelRegistry | None = None,
                 rss_fn: Callable[[], float] = process_rss_mb,
                 gpu_fn: Callable[[], float | None] = torch_gpu_mb,
                 warning_interval: float = 10.0, critical_interval: float = 5.0):
        self.warning_mb = float(config.warning_mb)
        self.critical_mb = float(config.critical_mb)
        self.gpu_warning_mb = float(config.gpu_warning_mb)
        self.gpu_critical_mb = float(config.gpu_critical_mb)
        self.models = models     # the registry whose idlest model the critical level unloads
        self._rss_fn = rss_fn
        self._gpu_fn = gpu_fn
        self.warning_interval = warning_interval     # least seconds between two warning actions
        self.critical_interval = critical_interval   # least seconds between two relief rounds
        self._lock = threading.RLock()
        self._cache_hooks: list[Callable[[], Any]] = []   # weak refs to free() callables
        self.level = OK
        self.paused = False
        self.parallelism_limit: int | None = None   # None: no limit
        self.last_sample = MemorySample(0.0, None)
        self.peak_rss_mb = 0.0
        self.peak_gpu_mb: float | None = None
        self.critical_events = 0
        self.jobs_running = 0   # jobs of this process now (the worker counts them: job())
        self._last_warning_action = float("-inf")
        self._last_relief = float("-inf")

    # -- cache hooks ------------------------------------------------------------
    def add_cache_hook(self, free: Callable[[], Any]) -> None:
        """`free()` drops an in-memory cache; called at the critical level.

        A bound method is held weakly: a job's cache object can go away
        without unregistering."""
        ref = weakref.WeakMethod(free) if inspect.ismethod(free) else (lambda: free)
        with self._lock:
            self._cache_hooks = [h for h in self._cache_hooks if h() is not None and h() != free]
            self._cache_hooks.append(ref)

    @contextlib.contextmanager
    def job(self):
        """Count one running job for the block (the worker holds it around each job)."""
        with self._lock:
            self.jobs_running += 1
        try:
            yield
        finally:
            with self._lock:
                self.jobs_running -= 1

    # -- measuring ---------------------------------------------------------------
    def sample(self) -> MemorySample:
        rss = float(self._rss_fn())
        gpu = self._gpu_fn()
        gpu = None if gpu is None else float(gpu)
        sample = MemorySample(rss, gpu)
        with self._lock:
            self.last_sample = sample
            self.peak_rss_mb = max(self.peak_rss_mb, rss)
            if gpu is not None:
                self.peak_gpu_mb = max(self.peak_gpu_mb or 0.0, gpu)
        return sample

    def level_of(self, sample: MemorySample) -> str:
        gpu = sample.gpu_mb
        if sample.rss_mb >= self.critical_mb or (gpu is not None and gpu >= self.gpu_critical_mb):
            return CRITICAL
        if sample.rss_mb >= self.warning_mb or (gpu is not None and gpu >= self.gpu_warning_mb):
            return WARNING
        return OK

    def check(self, sample: MemorySample | None = None) -> str:
        """Measure (unless given a sample), act on the level, return it."""
        sample = sample or self.sample()
        level = self.level_of(sample)
        now = time.monotonic()
        act_warning = act_critical = False
        with self._lock:
            previous = self.level
            self.level = level
            if level == CRITICAL:
                if not self.paused:
                    log.warning("memory critical: rss_mb=%.1f gpu_mb=%s (critical at %.0f MB RSS, "
                                "%.0f MB GPU); pausing claims and lowering scene parallelism",
                                sample.rss_mb, _fmt(sample.gpu_mb), self.critical_mb,
                                self.gpu_critical_mb)
                    self.critical_events += 1
                self.paused = True
                if now - self._last_relief >= self.critical_interval:
                    self._last_relief = now
                    self._last_warning_action = now
                    act_critical = True
            elif level == WARNING:
                if previous == OK:
                    log.warning("memory warning: rss_mb=%.1f gpu_mb=%s (warning at %.0f MB RSS, "
                                "%.0f MB GPU)", sample.rss_mb, _fmt(sample.gpu_mb),
                                self.warning_mb, self.gpu_warning_mb)
                if now - self._last_warning_action >= self.warning_interval:
                    self._last_warning_action = now
                    act_warning = True
            else:
                if self.paused or self.parallelism_limit is not None:
                    log.warning("memory back under the warning line: rss_mb=%.1f gpu_mb=%s; "
                                "claiming resumed, scene parallelism restored",
                                sample.rss_mb, _fmt(sample.gpu_mb))
                self.paused = False
                self.parallelism_limit = None
        if act_critical:
            self.relieve(CRITICAL)
        elif act_warning:
            self.relieve(WARNING)
        return level

    # -- acting ------------------------------------------------------------------
    def relieve(self, level: str = CRITICAL) -> dict[str, Any]:
        """Give memory back, the more the worse `level` is (see the module docstring):
        OK trims the heap; WARNING also collects garbage; CRITICAL also frees the cache
        hooks, unloads the least recently used model, empties the CUDA cache and halves
        scene parallelism. Returns what was done."""
        done: dict[str, Any] = {}
        if level == OK:
            done["trimmed"] = trim()
            return done
        done["gc_objects"] = gc.collect()
        if level != CRITICAL:
            done["trimmed"] = trim()
            return done
        with self._lock:
            hooks = [h() for h in self._cache_hooks]
            self._cache_hooks = [h for h in self._cache_hooks if h() is not None]
            current = self.parallelism_limit
            self.parallelism_limit = 1 if current is None else max(1, current // 2)
            done["parallelism_limit"] = self.parallelism_limit
        freed = 0
        for free in hooks:
            if free is None:
                continue
            try:
                free()
                freed += 1
            except Exception:  # noqa: BLE001 - one failing hook must not stop the others
                log.warning("a cache hook failed while freeing memory", exc_info=True)
        done["cache_hooks"] = freed
        try:
            if self.models is not None:
                done["model_unloaded"] = repr(self.models.unload_least_recently_used())
        except Exception:  # noqa: BLE001 - a failing unload must not stop the relief
            log.warning("unloading the least recently used model failed", exc_info=True)
        done["cuda_cache_emptied"] = models.free_gpu_memory()
        done["gc_objects"] += gc.collect()
        done["trimmed"] = trim()
        log.info("memory relief: %s", done)
        return done

    def parallelism(self, requested: int) -> int:
        """How many scene threads may run now, given `requested` (at least 1)."""
        requested = max(1, int(requested))
        limit = self.parallelism_limit
        return requested if limit is None else max(1, min(requested, limit))

    def state(self) -> dict[str, Any]:
        with self._lock:
            s = self.last_sample
            return {"level": self.level, "paused": self.paused,
                    "parallelism_limit": self.parallelism_limit,
                    "rss_mb": round(s.rss_mb, 1),
                    "gpu_mb": None if s.gpu_mb is None else round(s.gpu_mb, 1),
                    "warning_mb": self.warning_mb, "critical_mb": self.critical_mb,
                    "gpu_warning_mb": self.gpu_warning_mb,
                    "gpu_critical_mb": self.gpu_critical_mb,
                    "critical_events": self.critical_events, "jobs_running": self.jobs_running}


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _default_watch() -> MemoryWatch:
    from protovideo.runtime.settings import load_settings
    return MemoryWatch(MemoryConfig.from_settings(load_settings({}, read_files=False)),
                       models=models.MODELS)


INSTALLED: Installed[MemoryWatch] = Installed(_default_watch)   # Runtime.install sets it


def shared_watch(settings: Any = None) -> MemoryWatch:
    """The installed runtime's memory watch (protovideo.pipeline.runtime), for code not yet
    handed the runtime: the job API's routes. `settings` is ignored: thresholds are set once,
    when the runtime is made. With no runtime installed (an API a test made), a watch of the
    default thresholds, kept."""
    return INSTALLED.get()
