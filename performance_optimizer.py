"""PerformanceOptimizer: step timing, scene fan-out and the per-job report.

(First cut: timing and fan-out. Memory watch, PERF lines, metrics build on it.)
"""
from __future__ import annotations

import contextlib
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import psutil


class SceneError(RuntimeError):
    def __init__(self, index: int, error: BaseException):
        super().__init__(f"scene {index} failed: {error}")
        self.index = index
        self.error = error


class PerformanceOptimizer:
    def __init__(self, cache_dir: str | Path | None = None, max_workers: int = 2):
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self.max_workers = max(1, int(max_workers))
        self._lock = threading.Lock()
        self._process = psutil.Process()
        self.task_id = ""
        self._start = 0.0
        self._steps: dict[str, dict[str, Any]] = {}
        self._scenes: dict[int, dict[str, float]] = {}
        self._peak_rss = 0.0

    def rss_mb(self) -> float:
        rss = self._process.memory_info().rss / 2**20
        with self._lock:
            self._peak_rss = max(self._peak_rss, rss)
        return rss

    def start_performance_monitoring(self, task_id: str) -> None:
        with self._lock:
            self.task_id = task_id
            self._start = time.perf_counter()
            self._steps = {}
            self._scenes = {}
            self._peak_rss = 0.0
        self.rss_mb()

    def record_step(self, name: str, duration: float, scene: int | None = None) -> None:
        rss = self.rss_mb()
        with self._lock:
            step = self._steps.setdefault(name, {"duration": 0.0, "max": 0.0, "count": 0, "memory_mb": 0.0})
            step["duration"] += duration
            step["max"] = max(step["max"], duration)
            step["count"] += 1
            step["memory_mb"] = max(step["memory_mb"], rss)
            if scene is not None:
                per = self._scenes.setdefault(scene, {})
                per[name] = per.get(name, 0.0) + duration

    @contextlib.contextmanager
    def monitor_performance(self, name: str, scene: int | None = None) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.record_step(name, time.perf_counter() - start, scene)

    def parallel_process_scenes(self, fn: Callable[[Any], Any], items: Iterable[Any],
                                max_workers: int | None = None) -> list[Any]:
        items = list(items)
        workers = max(1, min(max_workers or self.max_workers, len(items) or 1))
        results: list[Any] = [None] * len(items)
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="scene") as pool:
            futures = [pool.submit(fn, item) for item in items]
            first_error: SceneError | None = None
            for i, future in enumerate(futures):
                try:
                    results[i] = future.result()
                except BaseException as exc:  # noqa: BLE001 - reported with its index
                    if first_error is None:
                        first_error = SceneError(i, exc)
        if first_error is not None:
            raise first_error
        return results

    def get_performance_report(self) -> dict[str, Any]:
        with self._lock:
            steps = {k: {"duration": round(v["duration"], 4), "max": round(v["max"], 4),
                         "count": v["count"], "memory_mb": round(v["memory_mb"], 1)}
                     for k, v in self._steps.items()}
            scenes = [{"index": i, "steps": {k: round(d, 4) for k, d in s.items()}}
                      for i, s in sorted(self._scenes.items())]
            total = time.perf_counter() - self._start if self._start else 0.0
            return {"job_id": self.task_id, "total_time": round(total, 4),
                    "peak_rss_mb": round(self._peak_rss, 1), "steps": steps, "scenes": scenes}

    def finish_job(self, report_dir: Path, extra: dict | None = None) -> tuple[dict, Path]:
        """Close the job's monitoring; write REPORT_DIR/<id>.json atomically."""
        import json
        import os
        import tempfile
        report = self.get_performance_report()
        report.update(extra or {})
        report_dir = Path(report_dir)
        report_dir.mkdir(parents=True, exist_ok=True)
        path = report_dir / f"{self.task_id}.json"
        fd, tmp = tempfile.mkstemp(dir=report_dir, prefix=".tmp-", suffix=".json")
        with os.fdopen(fd, "w") as fh:
            json.dump(report, fh, indent=2)
        os.replace(tmp, path)
        return report, path

    def optimize_memory(self) -> None:
        import gc
        gc.collect()
