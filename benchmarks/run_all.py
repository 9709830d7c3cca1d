#!/usr/bin/env python3
"""Run every benchmark one after another and collect their JSON in one summary file.

    python benchmarks/run_all.py [--scenes 5] [--width 1080] [--height 1920] [--fps 30]
        [--moviepy-width 540 --moviepy-height 960] [--quick] [--out benchmarks/results-<date>.json]

1. `main_worker.py --benchmark` (cold, warm, one scene changed, sequential, x264 floor)
2. benchmarks/straightforward_moviepy.py (the original way vs ours, same job, same encoder settings)
3. benchmarks/memory_soak.py (peak RSS of a 20-scene job, RSS over 20 jobs in one worker)
--quick runs everything small (270x480, 12 fps, few scenes and jobs), for a smoke test.
Each runs in its own process, so one's memory does not count against another.
Timings are wall clock; run on an otherwise idle machine for figures worth recording.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.benchmark_support import add_shape_arguments  # noqa: E402


def _run(cmd: list[str], env: dict, label: str) -> dict:
    print(f"== {label}: {' '.join(cmd[1:])}", file=sys.stderr, flush=True)
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        return {"error": f"exit {proc.returncode}", "wall_s": round(wall, 1)}
    text = proc.stdout
    return json.loads(text[text.index("{"):])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_shape_arguments(parser, scenes=5)
    parser.add_argument("--moviepy-width", type=int, default=540)
    parser.add_argument("--moviepy-height", type=int, default=960)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", help="summary JSON path")
    args = parser.parse_args(argv)
    if args.quick:
        args.scenes, args.width, args.height, args.fps = 2, 270, 480, 12
        args.moviepy_width, args.moviepy_height = 270, 480
    py = sys.executable
    with tempfile.TemporaryDirectory(prefix="protovideo-bench-") as tmp:
        env = dict(os.environ, WORK_DIR=str(Path(tmp) / "work"), OUTPUT_DIR=str(Path(tmp) / "out"),
                   LOG_FILE=str(Path(tmp) / "worker.log"), BENCH_WIDTH=str(args.width),
                   BENCH_HEIGHT=str(args.height), BENCH_FPS=str(args.fps))
        summary = {"date": time.strftime("%Y-%m-%d %H:%M:%S %Z")}
        summary["benchmark"] = _run([py, "main_worker.py", "--benchmark", f"--scenes={args.scenes}", "--json"],
                                    env, "benchmark")
        summary["moviepy"] = _run([py, "benchmarks/straightforward_moviepy.py", "--scenes", str(args.scenes),
                                   "--width", str(args.moviepy_width), "--height", str(args.moviepy_height),
                                   "--fps", str(args.fps)], env, "straightforward moviepy")
        soak = [py, "benchmarks/memory_soak.py"]
        if args.quick:
            soak += ["--scenes", "3", "--width", "270", "--height", "480", "--fps", "12", "--jobs", "4",
                     "--soak-width", "270", "--soak-height", "480", "--soak-fps", "12"]
        summary["memory"] = _run(soak, env, "memory soak")
    out = Path(args.out) if args.out else ROOT / "benchmarks" / f"results-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(summary, indent=2, default=str) + "\n", encoding="utf-8")
    bench = summary["benchmark"]
    if "ratios" in bench:
        print(f"cold/floor {bench['ratios']['cold_over_floor']}  warm/cold {bench['ratios']['warm_over_cold']}  "
              f"changed/cold {bench['ratios']['changed_over_cold']}  parallel x{bench['ratios']['parallel_speedup']}")
    if "speedup" in summary["moviepy"]:
        print(f"straightforward moviepy / ours: x{summary['moviepy']['speedup']}")
    if "big_job" in summary["memory"]:
        print(f"peak RSS {summary['memory']['big_job']['peak_rss_mb']} MB; soak spread "
              f"{summary['memory']['soak']['spread_mb']} MB")
    print(f"summary: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
