"""How true the ETA is: three jobs of different sizes and quality levels rendered cold, and the ETA
each job published compared with the time it really had left, at 25, 50 and 75 % of its wall time.

    python benchmarks/eta_accuracy.py [--fresh] [--json OUT.json]

Each job renders with an empty cache, in this process, through the real pipeline
(protovideo.pipeline.render.render_job); its progress callback records every published
(done, total, what, eta_s) with the time. At t = 25 / 50 / 75 % of the job's wall time T the last
ETA published before t, less the seconds since it was published, is compared with T - t:
error = |ETA - (T - t)| / (T - t), the goal at most 25 %. Percent shown at t is given beside t/T.
Beside it, the ETA the job API gave before issue 28 (the median of seconds per scene over the
earlier jobs' reports, times the job's scenes, less the time it has run, never below 0), worked
out from the same runs.

The jobs share one REPORT_DIR, as a worker's jobs do, so each learns from the reports before it;
a small job renders first (not scored) as the worker's earlier work. --fresh: no warm-up job and a
REPORT_DIR per job, so every job starts from the cost table alone (protovideo/pipeline/workplan.py).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.benchmark_support import EXAMPLES, BenchShape, machine, synthetic_job  # noqa: E402

JOBS = (BenchShape(3, 540, 960, 30, "draft"), BenchShape(5, 1080, 1920, 30, "standard"),
        BenchShape(4, 720, 1280, 30, "high"))
WARM_UP = BenchShape(2, 360, 640, 30, "standard")
AT = (0.25, 0.50, 0.75)
GOAL = 0.25


def render_watched(shape: BenchShape, job_id: str, settings) -> dict:
    """Render one job cold; every progress report it published, timed from the render's start."""
    from protovideo.pipeline.jobcheck import JobChecker
    from protovideo.pipeline.render import make_context, render_job
    job = JobChecker(settings).parse(synthetic_job(shape, job_id), EXAMPLES)
    seen: list[dict] = []
    start = time.monotonic()

    def progress(done, total, what, **more):
        seen.append({"t": time.monotonic() - start, "done": done, "total": total, "what": what,
                     "eta_s": more.get("eta_s"), "step": more.get("step")})

    ctx = make_context(settings, progress=progress)
    start = time.monotonic()
    render_job(job, ctx, replace=True)   # rendered again on purpose
    wall = time.monotonic() - start
    return {"job": job_id, "shape": f"{shape.scenes} scenes {shape.quality} {shape.width}x{shape.height}",
            "wall_s": round(wall, 2), "reports": seen}


def score(run: dict, per_scene: list[float], scenes: int) -> list[dict]:
    wall, reports = run["wall_s"], run["reports"]
    rows = []
    for fraction in AT:
        t = fraction * wall
        old = max(0.0, statistics.median(per_scene) * scenes - t) if per_scene else None
        before = [r for r in reports if r["t"] <= t and r["eta_s"] is not None]
        if not before:
            rows.append({"at": fraction, "eta_s": None, "left_s": round(wall - t, 2), "error": None})
            continue
        last = before[-1]
        eta = max(0.0, last["eta_s"] - (t - last["t"]))
        left = wall - t
        rows.append({"at": fraction, "eta_s": round(eta, 2), "left_s": round(left, 2),
                     "error": round(abs(eta - left) / left, 3), "percent": round(100.0 * last["done"] / last["total"], 1),
                     "what": last["what"], "since_last_report_s": round(t - last["t"], 2),
                     "before_eta_s": None if old is None else round(old, 2),
                     "before_error": None if old is None else round(abs(old - left) / left, 3)})
    return rows


def run_all(fresh: bool, log=print) -> dict:
    from protovideo.runtime.settings import load_settings
    root = Path(tempfile.mkdtemp(prefix="eta-accuracy-"))
    base = load_settings(read_files=False)

    def settings_for(name: str):
        reports = root / (f"reports-{name}" if fresh else "reports")
        return base.replace(CACHE_DIR=str(root / f"cache-{name}"), OUTPUT_DIR=str(root / "output"),
                            REPORT_DIR=str(reports), WORK_DIR=str(root / "work"), CACHE_ENABLED=True)

    per_scene: list[float] = []   # seconds per scene of the jobs before (the estimate before issue 28)
    if not fresh:
        log(f"warm-up: {WARM_UP}")
        warm = render_watched(WARM_UP, "eta-warm-up", settings_for("warm-up"))
        per_scene.append(warm["wall_s"] / WARM_UP.scenes)
    results = []
    load = os.getloadavg()[0]
    for i, shape in enumerate(JOBS):
        log(f"job {i + 1}: {shape}")
        run = render_watched(shape, f"eta-{i + 1}-{shape.quality}", settings_for(str(i)))
        run["at"] = score(run, per_scene if not fresh else [], shape.scenes)
        per_scene.append(run["wall_s"] / shape.scenes)
        results.append(run)
        log("  wall %.1f s; " % run["wall_s"] + ", ".join(
            f"{int(r['at'] * 100)} %: ETA {r['eta_s']} s vs {r['left_s']} s left ({_pct(r['error'])})"
            for r in run["at"]))
    log(f"load average {load:.1f} before, {os.getloadavg()[0]:.1f} after ({os.cpu_count()} cores)")
    errors = [r["error"] for run in results for r in run["at"] if r["error"] is not None]
    shutil.rmtree(root, ignore_errors=True)
    return {"fresh": fresh, "goal": GOAL, "machine": machine(), "load_average": os.getloadavg(), "jobs": results,
            "worst_error": max(errors) if errors else None,
            "met": bool(errors) and max(errors) <= GOAL and len(errors) == len(AT) * len(JOBS)}


def _pct(error) -> str:
    return "no ETA" if error is None else f"{100 * error:.0f} %"


def format_table(result: dict) -> str:
    lines = ["| job | wall s | at 25 %: ETA / left s (error; bar; before) | at 50 % | at 75 % |",
             "|---|---:|---|---|---|"]
    for run in result["jobs"]:
        cells = [f"{r['eta_s']} / {r['left_s']} ({_pct(r['error'])}; {r.get('percent')} %; "
                 f"{_pct(r.get('before_error')) if r.get('before_eta_s') is not None else '-'})" for r in run["at"]]
        lines.append(f"| {run['shape']} | {run['wall_s']} | " + " | ".join(cells) + " |")
    worst = result["worst_error"]
    lines.append(f"\nworst error {_pct(worst)} (goal at most {int(GOAL * 100)} %): {'met' if result['met'] else 'NOT met'}")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fresh", action="store_true", help="no earlier reports: the cost table alone")
    parser.add_argument("--json", help="also write the figures (every progress report) to this file")
    args = parser.parse_args(argv)
    result = run_all(args.fresh, log=lambda m: print(m, file=sys.stderr, flush=True))
    print(format_table(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
