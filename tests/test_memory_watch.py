"""Memory watch: thresholds from settings (one watch per runtime), pause claiming while critical,
recover under warning."""
from __future__ import annotations

import logging
import subprocess
import sys
import threading
import time


import performance_optimizer
from performance_optimizer import PerformanceOptimizer
from protovideo.service.middleware import default_middleware as worker_middleware
from protovideo.service.middleware.memory import MemoryWatchMiddleware
from protovideo.pipeline.memory_watch import (CRITICAL, OK, WARNING, MemoryConfig, MemoryWatch,
                                              process_rss_mb, shared_watch)
from protovideo.pipeline.render import make_context
from protovideo.pipeline.runtime import Runtime
from protovideo.service.middleware import Middleware
from protovideo.service.sources.spool import SpoolSource
from protovideo.service.worker import Worker

from perf_helpers import HUGE, fresh_process_state, thresholds  # noqa: F401 - fixture


def watch_from(make_settings, warning, critical, **kw):
    """A watch of real RSS with these RSS thresholds (MB), taken from settings as a runtime does."""
    settings = make_settings(MEMORY_WARNING_THRESHOLD=warning, MEMORY_CRITICAL_THRESHOLD=critical)
    return MemoryWatch(MemoryConfig.from_settings(settings), **kw)


def test_thresholds_come_from_settings(make_settings):
    settings = make_settings(MEMORY_WARNING_THRESHOLD=111, MEMORY_CRITICAL_THRESHOLD=222,
                             GPU_MEMORY_WARNING_THRESHOLD=333, GPU_MEMORY_CRITICAL_THRESHOLD=444)
    watch = Runtime.create(settings).memory
    assert (watch.warning_mb, watch.critical_mb) == (111, 222)
    assert (watch.gpu_warning_mb, watch.gpu_critical_mb) == (333, 444)


def test_passing_other_settings_reconfigures_no_runtimes_watch(make_settings):
    """Before: any caller that passed settings (a job's context, the middleware list, the API)
    set the thresholds of the one process-wide watch. Now each runtime's are set once."""
    runtime = Runtime.create(make_settings(MEMORY_WARNING_THRESHOLD=111, MEMORY_CRITICAL_THRESHOLD=222))
    other = make_settings(MEMORY_WARNING_THRESHOLD=5000, MEMORY_CRITICAL_THRESHOLD=9000)
    ctx = make_context(other)                     # a job of other settings: a runtime of its own
    worker_middleware(Runtime.create(other))
    runtime.install()
    try:
        assert shared_watch(other) is runtime.memory   # the API's door: settings are not applied
    finally:
        runtime.close()
    ctx.cache.close()
    assert (runtime.memory.warning_mb, runtime.memory.critical_mb) == (111, 222)
    assert ctx.optimizer.memory_watch is not runtime.memory
    assert ctx.optimizer.memory_watch.warning_mb == 5000


def test_levels_follow_real_rss(make_settings):
    rss = process_rss_mb()
    assert 5 < rss < 100_000
    assert watch_from(make_settings, HUGE, HUGE).check() == OK
    assert watch_from(make_settings, 1, HUGE).check() == WARNING
    assert watch_from(make_settings, 1, 1).check() == CRITICAL


def test_warning_logs_and_collects_without_pausing(make_settings, caplog):
    watch = watch_from(make_settings, 1, HUGE)
    with caplog.at_level(logging.WARNING, logger="protovideo.memory"):
        assert watch.check() == WARNING
    assert "memory warning" in caplog.text
    assert not watch.paused
    assert watch.parallelism(4) == 4


def test_low_critical_threshold_pauses_claiming_and_recovers(make_settings, fresh_process_state):
    # the daemon's path: the runtime's watch (thresholds 100/200 MB) behind the default middleware;
    # the measured RSS is handed in, so memory can rise and fall
    rss = {"mb": 250.0}
    settings = make_settings(MEMORY_WARNING_THRESHOLD=100, MEMORY_CRITICAL_THRESHOLD=200)
    watch = MemoryWatch(MemoryConfig.from_settings(settings), rss_fn=lambda: rss["mb"])
    runtime = Runtime.create(settings, memory=watch)
    middleware = worker_middleware(runtime)
    assert all(isinstance(m, Middleware) for m in middleware)
    worker = Worker(runtime, SpoolSource(settings), middleware=middleware)
    assert not all(m.can_claim(worker) for m in middleware)
    assert watch.level == CRITICAL and watch.paused
    # scene parallelism of every job's optimizer is lowered while critical
    ctx = make_context(runtime)
    assert ctx.optimizer.effective_max_workers == 1

    # memory between the lines after a critical spell: still paused (hysteresis)
    rss["mb"] = 150.0
    assert not all(m.can_claim(worker) for m in middleware)
    assert watch.level == WARNING and watch.paused

    # back under the warning line: claiming and parallelism come back
    rss["mb"] = 50.0
    assert all(m.can_claim(worker) for m in middleware)
    assert watch.level == OK and not watch.paused
    assert ctx.optimizer.effective_max_workers == settings.MAX_WORKERS
    assert PerformanceOptimizer(None, 4, memory_watch=watch).effective_max_workers == 4
    ctx.cache.close()


def test_critical_frees_caches_and_unloads_the_idle_model_of_the_runtimes_registry(make_settings):
    import generators.models as models

    class MemoryLevelLike:
        def __init__(self):
            self.items = {"a": 1}

        def clear(self):
            self.items.clear()

    registry = models.ModelRegistry()   # the runtime's model registry, fresh for the test
    registry.get(("test", "idle", "cpu", "fp32"), lambda: bytearray(1024))
    level = MemoryLevelLike()
    watch = Runtime.create(make_settings(MEMORY_WARNING_THRESHOLD=1, MEMORY_CRITICAL_THRESHOLD=1),
                           models=registry).memory
    watch.add_cache_hook(level.clear)
    with registry.use(("test", "busy", "cpu", "fp32"), lambda: bytearray(1024)):
        assert watch.check() == CRITICAL
        assert registry.loaded() == [("test", "busy", "cpu", "fp32")]   # in use: kept
    assert level.items == {}
    assert watch.parallelism_limit == 1
    assert watch.paused


def test_cache_hooks_are_weak_for_bound_methods(make_settings):
    class Level:
        cleared = 0

        def clear(self):
            Level.cleared += 1

    watch = watch_from(make_settings, 1, 1)
    level = Level()
    watch.add_cache_hook(level.clear)
    del level
    watch.check()
    assert Level.cleared == 0


def test_repeated_critical_halves_parallelism_down_to_one(make_settings):
    watch = watch_from(make_settings, 1, 1, critical_interval=0.0)
    watch.parallelism_limit = 8
    watch.check()
    assert watch.parallelism_limit == 4
    watch.check()
    watch.check()
    watch.check()
    assert watch.parallelism_limit == 1
    assert watch.critical_events == 1   # one critical spell, not one per check


def test_gpu_memory_counts_against_gpu_thresholds(make_settings):
    gpu = {"mb": 100.0}
    watch = MemoryWatch(MemoryConfig.from_settings(make_settings(
        MEMORY_WARNING_THRESHOLD=HUGE, MEMORY_CRITICAL_THRESHOLD=HUGE,
        GPU_MEMORY_WARNING_THRESHOLD=1000, GPU_MEMORY_CRITICAL_THRESHOLD=2000)),
        gpu_fn=lambda: gpu["mb"])
    assert watch.check() == OK
    gpu["mb"] = 1500.0
    assert watch.check() == WARNING
    gpu["mb"] = 2500.0
    assert watch.check() == CRITICAL and watch.paused
    gpu["mb"] = 10.0
    assert watch.check() == OK and not watch.paused
    assert watch.peak_gpu_mb == 2500.0


def test_gpu_probe_never_imports_torch():
    code = ("import sys; from protovideo.pipeline.memory_watch import MemoryWatch, torch_gpu_mb; "
            "from protovideo.pipeline.memory_watch import MemoryConfig; "
            "w = MemoryWatch(MemoryConfig(1e7, 1e7, 1e7, 1e7)); w.check(); assert torch_gpu_mb() is None; "
            "assert 'torch' not in sys.modules, 'torch was imported'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=performance_optimizer.__file__.rsplit("/", 1)[0])


def test_parallel_scenes_run_one_at_a_time_while_critical(make_settings):
    running, peak = [0], [0]
    lock = threading.Lock()

    def scene(i):
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.02)
        with lock:
            running[0] -= 1
        return i

    watch = watch_from(make_settings, 1, 1)
    watch.check()
    optimizer = PerformanceOptimizer(None, 4, memory_watch=watch)
    assert optimizer.parallel_process_scenes(scene, range(6)) == list(range(6))
    assert peak[0] == 1

    # with memory fine, scenes really run side by side (the barrier needs two at once)
    barrier = threading.Barrier(2, timeout=30)
    relaxed = PerformanceOptimizer(None, 2, memory_watch=watch_from(make_settings, HUGE, HUGE))
    assert relaxed.parallel_process_scenes(lambda i: barrier.wait() is not None, range(2)) == [True, True]


def test_middleware_hooks_recheck_memory():
    rss = {"mb": 500.0}
    watch = MemoryWatch(thresholds(100, 200), rss_fn=lambda: rss["mb"])
    middleware = MemoryWatchMiddleware(watch)
    middleware.after_idle(None)
    assert watch.paused
    rss["mb"] = 50.0
    middleware.after_process_job(None, None, None)
    assert not watch.paused
