"""PerformanceOptimizer: step timing, memory per step, scene fan-out and the per-job report.

    opt = PerformanceOptimizer(cache_dir, max_workers, memory_watch=runtime.memory,
                               metrics=runtime.metrics)   # one per job (make_context)
    opt.start_performance_monitoring(job.id)
    with opt.monitor_performance("tts", scene=i):        # also usable as a decorator
        ...
    results = opt.parallel_process_scenes(fetch_scene, scenes)    # SceneError(index, error)
    report, path = opt.finish_job(settings.path("REPORT_DIR"), {"cache_stats": cache.stats()})
    opt.optimize_memory()                                         # after the job: heap trimmed

Where the pipeline uses them: parallel_process_scenes fans out the asset fetches of
the picture making (generators/pictures.py); optimize_memory ends every render_job
(and is the door to MemoryWatch.relieve, which the watch calls itself when memory
crosses a line). The renderer's own encoding fan-out is the piece queue
(generators/piece_queue.py), sized by effective_max_workers.

Every step is also kept as an interval (start and end, seconds from the job's start), the
report's `intervals`, and from them comes its `critical_path` (protovideo/pipeline/critical_path.py:
the chain of steps the job's end waited for). `on_step_start(job_id, step, scene)`, when set, is
called as each step starts, inside it (a seam: tests inject a delay or a meeting point there).

Every step is logged to logger "protovideo.perf" as
    PERF job=<id> step=<name> duration=<seconds>s rss_mb=<mb> [scene=<i>] [gpu_mb=<mb>]
and every job as
    PERF job=<id> total=<seconds>s peak_rss_mb=<mb> cache_hit_rate=<0..1>
The memory watch (protovideo/pipeline/memory_watch.py) is the process's, in its runtime:
its critical state and lowered scene parallelism outlive a single job and its optimizer.
"""
from __future__ import annotations

import contextlib
import contextvars
import logging
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from cache import ArtifactCache
from jobmodel.errors import SceneError
from jobmodel.files import write_json_atomic
from protovideo.pipeline.critical_path import Interval, critical_path
from protovideo.pipeline.memory_watch import OK, MemorySample, MemoryWatch
from protovideo.pipeline.metrics import Metrics

perf_log = logging.getLogger("protovideo.perf")
log = logging.getLogger("protovideo.optimizer")

_SAFE_ID = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")


class _Gate:
    """Lets at most limit() callers in at once; the limit is re-read while waiting."""

    def __init__(self, limit: Callable[[], int]):
        self._limit = limit
        self._cond = threading.Condition()
        self._active = 0

    def __enter__(self) -> None:
        with self._cond:
            while self._active >= max(1, self._limit()):
                self._cond.wait(timeout=0.5)
            self._active += 1

    def __exit__(self, *exc: Any) -> None:
        with self._cond:
            self._active -= 1
            self._cond.notify_all()


def _new_step() -> dict[str, Any]:
    return {"duration": 0.0, "max": 0.0, "count": 0, "memory_mb": 0.0}


def _add(step: dict[str, Any], duration: float, sample: MemorySample, failed: bool) -> None:
    step["duration"] += duration
    step["max"] = max(step["max"], duration)
    step["count"] += 1
    step["memory_mb"] = max(step["memory_mb"], sample.rss_mb)
    if sample.gpu_mb is not None:
        step["gpu_mb"] = max(step.get("gpu_mb", 0.0), sample.gpu_mb)
    if failed:
        step["errors"] = step.get("errors", 0) + 1


def _rounded(step: dict[str, Any]) -> dict[str, Any]:
    out = {"duration": round(step["duration"], 4), "max": round(step["max"], 4),
           "count": step["count"], "memory_mb": round(step["memory_mb"], 1)}
    if "gpu_mb" in step:
        out["gpu_mb"] = round(step["gpu_mb"], 1)
    if step.get("errors"):
        out["errors"] = step["errors"]
    return out


def normalize_cache_stats(stats: Any) -> dict[str, Any]:
    """{"hits", "misses", "hit_rate"} from a cache's stats() (missing keys count 0)."""
    stats = dict(stats or {})
    hits = int(stats.get("hits", 0) or 0)
    misses = int(stats.get("misses", 0) or 0)
    total = hits + misses
    stats.update(hits=hits, misses=misses, hit_rate=round(hits / total, 4) if total else 0.0)
    return stats


class PerformanceOptimizer:
    def __init__(self, cache_dir: str | Path | None, max_workers: int, *,
                 memory_watch: MemoryWatch, metrics: Metrics | None = None):
        """`metrics`: the process's (the runtime's); None records into a registry of this
        optimizer's own (a test, a one-off tool)."""
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self.max_workers = max(1, int(max_workers))
        self.memory_watch = memory_watch
        self.metrics = metrics or Metrics(memory_watch)
        self._lock = threading.Lock()
        self.task_id = ""
        self._start = 0.0
        self._started_unix = 0.0
        self._started_at = ""
        self._intervals: list[Interval] = []
        self.on_step_start: Callable[[str, str, int | None], None] | None = None
        self._total: float | None = None
        self._steps: dict[str, dict[str, Any]] = {}
        self._scenes: dict[int, dict[str, dict[str, Any]]] = {}
        self._peak_rss = 0.0
        self._peak_gpu: float | None = None
        self._jobs_at_once = 0
        self.cache_stats: dict[str, Any] | None = None
        self._cache: Any = None
        self._cache_since: dict | None = None

    def attach_cache(self, cache: ArtifactCache) -> None:
        """Take the job's cache statistics from `cache` at finish_job (counted from now),
        and let the memory watch drop its in-memory level when memory is critical."""
        self._cache = cache
        self._cache_since = cache.counts()
        self.memory_watch.add_cache_hook(cache.memory.clear)

    def _attached_cache_stats(self) -> dict[str, Any] | None:
        if self._cache is None:
            return None
        try:
            return self._cache.stats(since=self._cache_since)
        except Exception:  # noqa: BLE001 - statistics never fail a rendered job
            log.warning("cache statistics unavailable", exc_info=True)
            return None

    # -- memory ------------------------------------------------------------------
    def _sample(self) -> MemorySample:
        sample = self.memory_watch.sample()
        with self._lock:
            self._jobs_at_once = max(self._jobs_at_once, self.memory_watch.jobs_running)
            self._peak_rss = max(self._peak_rss, sample.rss_mb)
            if sample.gpu_mb is not None:
                self._peak_gpu = max(self._peak_gpu or 0.0, sample.gpu_mb)
        return sample

    def rss_mb(self) -> float:
        return self._sample().rss_mb

    def optimize_memory(self, level: str = OK) -> dict[str, Any]:
        """Give memory back; returns what was done. A documented door to the one
        mechanism, MemoryWatch.relieve (the memory watch calls it itself when memory
        crosses a line): OK (the pipeline calls this after every job) trims the heap,
        WARNING also collects garbage, CRITICAL also drops caches, unloads the least
        recently used model, empties the CUDA cache and lowers scene parallelism."""
        return self.memory_watch.relieve(level)

    @property
    def effective_max_workers(self) -> int:
        """MAX_WORKERS, lowered while the memory watch says memory is critical."""
        return self.memory_watch.parallelism(self.max_workers)

    # -- steps -------------------------------------------------------------------
    def start_performance_monitoring(self, task_id: str, scenes: int | None = None) -> None:
        """Start a job's monitoring; `scenes` (the job's scene count) lists every scene
        in the report, also those whose work all came from the cache."""
        with self._lock:
            self.task_id = str(task_id)
            self._start = time.perf_counter()
            self._started_unix = time.time()
            self._started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
            self._total = None
            self._steps = {}
            self._intervals = []
            self._scenes = {i: {} for i in range(int(scenes or 0))}
            self._peak_rss = 0.0
            self._peak_gpu = None
            self._jobs_at_once = 0
            self.cache_stats = None
        self._sample()

    def record_step(self, name: str, duration: float, scene: int | None = None,
                    failed: bool = False, start: float | None = None) -> None:
        """Add one run of step `name` (seconds); `scene` keeps it per scene too. `start`: when
        it began (time.perf_counter()); default: `duration` before now."""
        end = time.perf_counter()
        duration = max(0.0, float(duration))
        begun = end - duration if start is None else float(start)
        sample = self._sample()
        with self._lock:
            _add(self._steps.setdefault(name, _new_step()), duration, sample, failed)
            if self._start:
                self._intervals.append(Interval(name, None if scene is None else int(scene),
                                                max(0.0, begun - self._start), end - self._start))
            if scene is not None:
                per_scene = self._scenes.setdefault(int(scene), {})
                _add(per_scene.setdefault(name, _new_step()), duration, sample, failed)
            job = self.task_id or "-"
        line = "PERF job=%s step=%s duration=%.3fs rss_mb=%.1f"
        args: list[Any] = [job, _token(name), duration, sample.rss_mb]
        if scene is not None:
            line += " scene=%d"
            args.append(int(scene))
        if sample.gpu_mb is not None:
            line += " gpu_mb=%.1f"
            args.append(sample.gpu_mb)
        if failed:
            line += " failed=1"
        perf_log.info(line, *args, extra={"perf": {
            "job": job, "step": name, "duration": round(duration, 4),
            "rss_mb": round(sample.rss_mb, 1), "gpu_mb": sample.gpu_mb, "scene": scene}})
        self.metrics.observe_step(name, duration)
        self.memory_watch.check(sample)

    @contextlib.contextmanager
    def monitor_performance(self, name: str, scene: int | None = None) -> Iterator[None]:
        """Time the block (or, used as a decorator, each call) as step `name`."""
        self._sample()
        start = time.perf_counter()
        failed = True
        try:
            if self.on_step_start is not None:
                self.on_step_start(self.task_id, name, scene)
            yield
            failed = False
        finally:
            self.record_step(name, time.perf_counter() - start, scene, failed=failed, start=start)

    # -- scenes ------------------------------------------------------------------
    def parallel_process_scenes(self, fn: Callable[[Any], Any], items: Iterable[Any],
                                max_workers: int | None = None) -> list[Any]:
        """fn(item) for every item on a thread pool; results in item order.

        A failing scene does not stop the others: every scene runs to its end,
        then SceneError(index of the first failed scene, its error) is raised,
        with every failure in `.errors`. While memory is critical fewer scenes
        run at once (the limit is re-read before each scene starts).
        """
        items = list(items)
        if not items:
            return []
        workers = max(1, min(int(max_workers or self.max_workers), len(items)))
        gate = _Gate(lambda: self.memory_watch.parallelism(workers))

        def run(item: Any) -> Any:
            with gate:
                return fn(item)

        results: list[Any] = [None] * len(items)
        errors: list[tuple[int, BaseException]] = []
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="scene") as pool:
            futures = [pool.submit(contextvars.copy_context().run, run, item) for item in items]
            for i, future in enumerate(futures):
                try:
                    results[i] = future.result()
                except BaseException as exc:  # noqa: BLE001 - reported with its index
                    log.warning("job %s: scene %d failed: %s", self.task_id or "-", i, exc)
                    errors.append((i, exc))
        if errors:
            index, error = errors[0]
            raise SceneError(index, error, errors) from error
        return results

    # -- report ------------------------------------------------------------------
    def get_performance_report(self) -> dict[str, Any]:
        with self._lock:
            steps = {k: _rounded(v) for k, v in self._steps.items()}
            scenes = []
            for index, per in sorted(self._scenes.items()):
                scenes.append({
                    "index": index,
                    "duration": round(sum(s["duration"] for s in per.values()), 4),
                    "peak_rss_mb": round(max(s["memory_mb"] for s in per.values()), 1) if per else None,
                    "steps": {k: _rounded(v) for k, v in per.items()},
                })
            if self._total is not None:
                total = self._total
            else:
                total = time.perf_counter() - self._start if self._start else 0.0
            intervals = list(self._intervals)
            report: dict[str, Any] = {
                "job_id": self.task_id, "started_at": self._started_at,
                "started_unix": round(self._started_unix, 4),
                "total_time": round(total, 4), "peak_rss_mb": round(self._peak_rss, 1),
                "cache_stats": normalize_cache_stats(self.cache_stats),
                "steps": steps, "scenes": scenes,
                "max_workers": self.max_workers,
                # jobs this process rendered at once meanwhile: memory figures are the process's
                "jobs_at_once": max(1, self._jobs_at_once),
                "critical_path": critical_path(intervals, total),
                "intervals": [i.as_dict() for i in sorted(intervals, key=lambda i: i.start)],
            }
            if self._peak_gpu is not None:
                report["peak_gpu_mb"] = round(self._peak_gpu, 1)
        report["effective_max_workers"] = self.effective_max_workers
        report["memory"] = self.memory_watch.state()
        return report

    def finish_job(self, report_dir: Path, extra: dict | None = None) -> tuple[dict, Path]:
        """Close the job's monitoring; write REPORT_DIR/<id>.json atomically; log its PERF line.

        `extra` is merged into the report; its "cache_stats" (the job's cache.stats())
        becomes the report's cache_stats, and a "scenes" list is merged into the
        per-scene entries by position (or by each item's "index").
        """
        if not _SAFE_ID.match(self.task_id or ""):
            raise ValueError(f"job id {self.task_id!r} cannot name a report file")
        self._sample()
        with self._lock:
            if self._total is None and self._start:
                self._total = time.perf_counter() - self._start
        extra = dict(extra or {})
        if "cache_stats" in extra:
            self.cache_stats = normalize_cache_stats(extra.pop("cache_stats"))
        elif self._cache is not None:
            self.cache_stats = normalize_cache_stats(self._attached_cache_stats())
        extra_scenes = extra.pop("scenes", None)
        report = self.get_performance_report()
        report.update(extra)
        if isinstance(extra_scenes, list):
            _merge_scenes(report["scenes"], extra_scenes)
        report_dir = Path(report_dir)
        report_dir.mkdir(parents=True, exist_ok=True)
        path = report_dir / f"{self.task_id}.json"
        write_json_atomic(path, report, indent=2, default=str)
        cache = report["cache_stats"]
        perf_log.info("PERF job=%s total=%.3fs peak_rss_mb=%.1f cache_hit_rate=%.4f",
                      self.task_id, report["total_time"], report["peak_rss_mb"], cache["hit_rate"],
                      extra={"perf": {"job": self.task_id, "total": report["total_time"],
                                      "peak_rss_mb": report["peak_rss_mb"],
                                      "cache_hit_rate": cache["hit_rate"]}})
        self.metrics.add_cache_stats(cache)   # (job durations: the worker's metrics middleware)
        return report, path


def _token(name: str) -> str:
    """A step name as one greppable token."""
    return re.sub(r"\s+", "_", str(name).strip()) or "-"


def _merge_scenes(ours: list[dict[str, Any]], theirs: list[Any]) -> None:
    by_index = {s["index"]: s for s in ours}
    for position, item in enumerate(theirs):
        if not isinstance(item, dict):
            continue
        index = item.get("index", position)
        entry = by_index.get(index)
        if entry is None:
            entry = {"index": index, "duration": 0.0, "peak_rss_mb": 0.0, "steps": {}}
            by_index[index] = entry
            ours.append(entry)
        entry.update({k: v for k, v in item.items() if k != "steps"})
    ours.sort(key=lambda s: s["index"] if isinstance(s["index"], int) else 0)
