#!/usr/bin/env python3
"""Several jobs at once in one process (MAX_JOBS): wall time of a queue, and one copy of each model.

--jobs (4) small real jobs (--scenes 3 at --width x --height 540x960, 30 fps, `standard`, Piper
narration, simple pictures, music; distinct narration per job and run, an empty private cache
per run, so every run is cold) are queued on a private spool and drained by one
protovideo.service.worker.Worker (`run --once`'s loop and middleware) with MAX_JOBS=1 and with
MAX_JOBS=2, each run in a fresh Python process (so each loads the Piper voice itself), in the
order 1, 2, 2, 1 (--rounds times), so a machine that gets busier or quieter meanwhile
touches both alike.

Per run: wall seconds from the first claim to the last record; CPU seconds of the process and its
ffmpeg children (os.times); the peak RSS of the process (psutil, every 0.1 s); the model
registry's load counts (one load per model key = one copy in memory); how many jobs ran at
once (from the reports: each job's [started_unix, + total_time]). Also, once: what a second
copy of the Piper voice adds to a process's RSS (what a worker process per job would pay).

    python benchmarks/multi_jobs.py [--jobs 4] [--scenes 3] [--width 540] [--height 960]
        [--rounds 1] [--max-workers 2] [--json OUT]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _settings(root: Path, max_jobs: int, max_workers: int):
    from protovideo.runtime.settings import SPECS, load_settings
    env = {k: v for k, v in os.environ.items() if k not in SPECS}   # the defaults, but for these
    env.update(JOB_SOURCE="spool", SPOOL_DIR=str(root / "spool"), CACHE_DIR=str(root / "cache"),
               OUTPUT_DIR=str(root / "output"), REPORT_DIR=str(root / "reports"),
               WORK_DIR=str(root / "work"), LOG_FILE=str(root / "worker.log"), METRICS_PORT="0",
               MAX_JOBS=str(max_jobs), MAX_WORKERS=str(max_workers), POLL_INTERVAL="0.05")
    return load_settings(env, cwd=root, read_files=False)


def _concurrency(reports: list[dict]) -> dict:
    """Most jobs running at one moment, and seconds with two or more running (from the reports)."""
    edges = sorted([(r["started_unix"], 1) for r in reports] +
                   [(r["started_unix"] + r["total_time"], -1) for r in reports])
    running = most = 0
    shared, last = 0.0, None
    for moment, change in edges:
        if last is not None and running >= 2:
            shared += moment - last
        running += change
        most = max(most, running)
        last = moment
    return {"most_at_once": most, "seconds_two_or_more": round(shared, 2)}


def child(args) -> int:
    """One run in this fresh process: queue the jobs, drain them, print what was measured."""
    from protovideo.runtime.malloc_tuning import tune
    tune()
    from benchmarks.benchmark_support import EXAMPLES, BenchShape, RssSampler, synthetic_job
    from generators.models import MODELS
    from protovideo.pipeline.runtime import Runtime
    from protovideo.service.sources import open_source
    from protovideo.service.worker import Worker

    root = Path(args.root)
    settings = _settings(root, args.max_jobs, args.max_workers)
    source = open_source(settings)
    shape = BenchShape(args.scenes, args.width, args.height, args.fps, args.quality)
    ids = [f"multi-{n}" for n in range(args.jobs)]
    for n, job_id in enumerate(ids):
        source.submit(synthetic_job(shape, job_id, variant=f"{args.tag} {n}"), base_dir=EXAMPLES)
    runtime = Runtime.create(settings)
    worker = Worker(runtime, source, once=True)
    before = os.times()
    with RssSampler() as sampler:
        start = time.perf_counter()
        worker.run(install_signals=False)
        wall = time.perf_counter() - start
    after = os.times()
    runtime.close()
    reports = [json.loads((settings.path("REPORT_DIR") / f"{j}.json").read_text()) for j in ids
               if (settings.path("REPORT_DIR") / f"{j}.json").exists()]
    cpu = sum(getattr(after, f) - getattr(before, f)
              for f in ("user", "system", "children_user", "children_system"))
    print(json.dumps({
        "max_jobs": args.max_jobs, "counts": worker.counts, "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2), "jobs_per_hour": round(3600 * len(reports) / wall, 1),
        "job_wall_s": [r["total_time"] for r in reports], **_concurrency(reports),
        "peak_rss_mb": sampler.result()["peak_rss_mb"],
        "load_counts": {" ".join(map(str, k)): v for k, v in MODELS.load_counts.items()},
    }))
    return 0


def voice_cost() -> dict:
    """What one more copy of the Piper voice adds to a process's RSS: a process loads the voice
    (and speaks once), then loads a second copy beside it, as a worker process per job would."""
    code = ("import json, psutil; p = psutil.Process(); mb = lambda: round(p.memory_info().rss / 2**20, 1); "
            "from generators.tts_piper import PiperProvider, default_voice_path; "
            "from jobmodel.spec import VoiceSpec; provider = PiperProvider(); start = mb(); "
            "provider.synthesize_sentences(['One sentence to load the voice.'], VoiceSpec()); one = mb(); "
            "second = provider._load(default_voice_path()); "
            "list(second.synthesize('One sentence to load the voice.')); two = mb(); "
            "print(json.dumps({'rss_imports_mb': start, 'rss_one_voice_mb': one, 'rss_two_voices_mb': two}))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         timeout=600, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["second_copy_adds_mb"] = round(result["rss_two_voices_mb"] - result["rss_one_voice_mb"], 1)
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=4)
    parser.add_argument("--scenes", type=int, default=3)
    parser.add_argument("--width", type=int, default=540)
    parser.add_argument("--height", type=int, default=960)
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--quality", default="standard")
    parser.add_argument("--rounds", type=int, default=1, help="rounds of four runs: MAX_JOBS 1, 2, 2, 1")
    parser.add_argument("--max-workers", type=int, default=2, help="MAX_WORKERS of every run")
    parser.add_argument("--json", help="write the result here as JSON")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--max-jobs", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--root", help=argparse.SUPPRESS)
    parser.add_argument("--tag", default="", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(args)
    from benchmarks.benchmark_support import emit_json, machine
    order = [1, 2, 2, 1] * max(1, args.rounds)
    base = Path(tempfile.mkdtemp(prefix="multi-jobs-"))
    runs = []
    try:
        for n, max_jobs in enumerate(order):
            root = base / f"run{n}"
            root.mkdir()
            command = [sys.executable, str(Path(__file__).resolve()), "--child", "--max-jobs", str(max_jobs),
                       "--root", str(root), "--tag", f"run {n} {time.time()}"] + \
                      [f"--{k}={getattr(args, k.replace('-', '_'))}" for k in
                       ("jobs", "scenes", "width", "height", "fps", "quality", "max-workers")]
            print(f"run {n + 1}/{len(order)}: MAX_JOBS={max_jobs} ...", file=sys.stderr, flush=True)
            out = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=3600)
            if out.returncode:
                raise SystemExit(f"run {n} failed:\n{out.stderr[-4000:]}")
            runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
            print(f"  wall {runs[-1]['wall_s']} s, CPU {runs[-1]['cpu_s']} s, "
                  f"{runs[-1]['most_at_once']} at once, peak RSS {runs[-1]['peak_rss_mb']} MB",
                  file=sys.stderr, flush=True)
        voice = voice_cost()
    finally:
        shutil.rmtree(base, ignore_errors=True)

    def median(max_jobs: int, key: str) -> float:
        return statistics.median(r[key] for r in runs if r["max_jobs"] == max_jobs)

    result = {"date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "machine": machine(),
              "load_average": os.getloadavg(),
              "jobs": args.jobs, "scenes": args.scenes, "size": [args.width, args.height], "fps": args.fps,
              "quality": args.quality, "max_workers": args.max_workers, "runs": runs, "voice": voice,
              "wall_1_over_2": round(median(1, "wall_s") / median(2, "wall_s"), 3),
              "cpu_2_over_1": round(median(2, "cpu_s") / median(1, "cpu_s"), 3),
              "rss_2_minus_1_mb": round(median(2, "peak_rss_mb") - median(1, "peak_rss_mb"), 1)}
    emit_json(result, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
