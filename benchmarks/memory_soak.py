#!/usr/bin/env python3
"""Memory: peak RSS of one big job, and RSS over many consecutive jobs in one worker process.

1. big job: the benchmark job with --scenes (20) at --width x --height (1080x1920),
   rendered in-process with an empty private cache; RSS of this process and of its
   child processes (ffmpeg) sampled every 0.1 s by psutil, reported separately.
2. soak: --jobs (20) distinct jobs (--soak-scenes each, --soak-width x --soak-height)
   submitted to a private spool and drained by one protovideo.service.worker.Worker (--once),
   the daemon's own loop and middleware; this process's RSS is read after every job.
   Target: flat within 50 MB (spread of the RSS after each job).

    python benchmarks/memory_soak.py [--scenes 20] [--width 1080] [--height 1920] [--fps 30]
        [--jobs 20] [--soak-scenes 2] [--soak-width 540] [--soak-height 960] [--skip-big] [--json OUT]
"""
from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from protovideo.runtime.malloc_tuning import tune  # noqa: E402

tune()  # as main_worker.py does before any thread exists

from benchmarks.benchmark_support import (EXAMPLES, BenchShape, RssSampler, add_shape_arguments,  # noqa: E402
                                          emit_json, machine, synthetic_job)
from protovideo.service.middleware import Middleware  # noqa: E402
from protovideo.runtime.settings import load_settings  # noqa: E402

RSS_TARGET_MB = 500
FLAT_TARGET_MB = 50


def big_job(shape: BenchShape, root: Path, settings) -> dict:
    from benchmarks.offline import _private_settings, _render
    with RssSampler() as sampler:
        run = _render(synthetic_job(shape, "soak-big"), _private_settings(settings, root, "big", max(2, os.cpu_count() or 1)),
                      sampler)
        memory = sampler.result()
    return {"scenes": shape.scenes, "size": [shape.width, shape.height], "fps": shape.fps,
            "video_duration": run["video_duration"], "wall_s": run["wall_s"],
            "report_peak_rss_mb": run["peak_rss_mb"], **memory,
            "target_peak_rss_mb": RSS_TARGET_MB, "met": memory["peak_rss_mb"] <= RSS_TARGET_MB}


class RssAfterJob(Middleware):
    """Reads this process's RSS after every job the worker finishes (or fails)."""

    def __init__(self):
        self.proc = psutil.Process()
        self.after: list[dict] = []
        self.start = time.perf_counter()

    def _note(self, claimed, status: str) -> None:
        self.after.append({"job": getattr(claimed, "id", "?"), "status": status,
                           "rss_mb": round(self.proc.memory_info().rss / 2**20, 1),
                           "t": round(time.perf_counter() - self.start, 2)})
        print(f"  job {len(self.after)}: {status}, RSS {self.after[-1]['rss_mb']} MB", file=sys.stderr, flush=True)

    def after_process_job(self, worker, claimed, result) -> None:
        self._note(claimed, "done")

    def after_job_failed(self, worker, claimed, error) -> None:
        self._note(claimed, f"failed: {error}")


def soak(jobs: int, shape: BenchShape, root: Path, settings) -> dict:
    from protovideo.service.sources import open_source
    from protovideo.pipeline.runtime import Runtime
    from protovideo.service.worker import Worker, default_middleware
    folder = root / "soak"
    soak_settings = settings.replace(
        JOB_SOURCE="spool", SPOOL_DIR=str(folder / "spool"), CACHE_DIR=str(folder / "cache"),
        OUTPUT_DIR=str(folder / "output"), REPORT_DIR=str(folder / "reports"), WORK_DIR=str(folder / "work"),
        LOG_FILE=str(folder / "worker.log"), REDIS_URL="", METRICS_PORT=0, MAX_WORKERS=max(2, os.cpu_count() or 1))
    source = open_source(soak_settings)
    for n in range(jobs):   # distinct narration per job: every job renders, nothing comes from the cache
        source.submit(synthetic_job(shape, f"soak-{n:02d}", variant=str(n)), base_dir=EXAMPLES)
    meter = RssAfterJob()
    before = round(meter.proc.memory_info().rss / 2**20, 1)
    runtime = Runtime.create(soak_settings)
    worker = Worker(runtime, source, middleware=default_middleware(runtime) + [meter], once=True)
    start = time.perf_counter()
    worker.run(install_signals=False)
    wall = time.perf_counter() - start
    source.close() if hasattr(source, "close") else None
    rss = [entry["rss_mb"] for entry in meter.after]
    spread = round(max(rss) - min(rss), 1) if rss else None
    return {"jobs": jobs, "scenes_per_job": shape.scenes, "size": [shape.width, shape.height], "fps": shape.fps,
            "counts": dict(worker.counts), "wall_s": round(wall, 1), "rss_before_mb": before,
            "rss_after_each_job_mb": rss, "spread_mb": spread,
            "growth_first_to_last_mb": round(rss[-1] - rss[0], 1) if rss else None,
            "target_spread_mb": FLAT_TARGET_MB, "met": spread is not None and spread <= FLAT_TARGET_MB
            and worker.counts.get("done") == jobs}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_shape_arguments(parser, scenes=20)
    parser.add_argument("--jobs", type=int, default=20)
    parser.add_argument("--soak-scenes", type=int, default=2)
    parser.add_argument("--soak-width", type=int, default=540)
    parser.add_argument("--soak-height", type=int, default=960)
    parser.add_argument("--soak-fps", type=int, default=30)
    parser.add_argument("--skip-big", action="store_true")
    parser.add_argument("--skip-soak", action="store_true")
    parser.add_argument("--json", help="write the result here as JSON")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    settings = load_settings()
    base = settings.path("WORK_DIR")
    base.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="memory-soak-", dir=base))
    result = {"date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "machine": machine()}
    try:
        if not args.skip_big:
            print(f"big job: {args.scenes} scenes {args.width}x{args.height} ...", file=sys.stderr, flush=True)
            result["big_job"] = big_job(BenchShape(args.scenes, args.width, args.height, args.fps), root, settings)
            print(f"  peak RSS {result['big_job']['peak_rss_mb']} MB (ffmpeg children "
                  f"{result['big_job']['peak_children_rss_mb']} MB)", file=sys.stderr, flush=True)
        if not args.skip_soak:
            print(f"soak: {args.jobs} jobs in one worker ...", file=sys.stderr, flush=True)
            result["soak"] = soak(args.jobs, BenchShape(args.soak_scenes, args.soak_width, args.soak_height,
                                                        args.soak_fps), root, settings)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    emit_json(result, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
