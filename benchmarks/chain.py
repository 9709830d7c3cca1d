"""The serial chain of a cold render, before and after (issue 29, "no serial chain").

    python -m benchmarks.chain [--before /path/to/other/checkout] [--scenes 5 --width 540 ...]
                               [--json out.json]

Each configuration renders the synthetic benchmark job (benchmarks/benchmark_support.py) cold
(an empty cache), then once more with one scene's narration changed, in a child process of its
own checkout (so `--before` can be the main branch's code, measured in the same run as this
one). From the report's step intervals (protovideo/pipeline/optimizer.py) it takes:

    first_narration_s   when the first scene's narration was done (its tts_synthesis ended)
    narration_done_s    when the last one was
    soundtrack_done_s   when the soundtrack was (the end of its last audio step)
    total_s             the job's wall time (report total_time)
    critical_path       the report's chain of steps the end waited for (step names, seconds)

and for the changed render the soundtrack's seconds and what its segments did (this branch).
Configurations: `before` (the other checkout, when given), `serial` (this checkout,
NARRATION_WORKERS=1, auto's choice on up to 4 cores), `side_by_side` (NARRATION_WORKERS=2). Times are wall seconds on this
machine; the ratios between configurations are what to read.
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

ROOT = Path(__file__).resolve().parents[1]

CHILD = r'''
import json, logging, sys
from pathlib import Path
sys.path.insert(0, ".")
from benchmarks.benchmark_support import EXAMPLES, BenchShape, synthetic_job
from protovideo.pipeline.jobcheck import JobChecker
from protovideo.pipeline.render import make_context, render_job
from protovideo.runtime.settings import load_settings
work, shape, extra = Path(sys.argv[1]), BenchShape(**json.loads(sys.argv[2])), json.loads(sys.argv[3])
env = {"CACHE_DIR": str(work / "cache"), "OUTPUT_DIR": str(work / "out"), "REPORT_DIR": str(work / "reports"),
       "WORK_DIR": str(work / "work"), "QC": "off", **extra}
settings = load_settings(env, cwd=work, read_files=False)
out = []
for name, changed in (("cold", None), ("changed", 2)):
    data = synthetic_job(shape, job_id=f"chain-{name}", changed_scene=changed)
    job = JobChecker(settings).parse(data, EXAMPLES)
    out.append(render_job(job, make_context(settings, log=logging.getLogger("bench"))).report)
print("REPORTS " + json.dumps(out))
'''

AUDIO_STEPS = ("audio_mix", "loudness")


def figures(report: dict) -> dict:
    spans = report.get("intervals", [])
    tts = sorted(i["end"] for i in spans if i["step"] == "tts_synthesis")
    audio = [i for i in spans if i["step"] in AUDIO_STEPS]
    steps = report.get("critical_path", {}).get("steps", [])
    return {
        "total_s": round(report["total_time"], 3),
        "first_narration_s": round(tts[0], 3) if tts else None,
        "narration_done_s": round(tts[-1], 3) if tts else None,
        "soundtrack_s": round(sum(i["end"] - i["start"] for i in audio), 3),
        "soundtrack_done_s": round(max(i["end"] for i in audio), 3) if audio else None,
        "critical_path": [f"{s['step']}{'' if s['scene'] is None else ':' + str(s['scene'])} "
                          f"{s['end'] - s['start']:.2f}" for s in steps],
        "critical_between_s": report.get("critical_path", {}).get("between_steps"),
        "soundtrack_segments": report.get("soundtrack"),
    }


def measure(checkout: Path, shape: dict, extra: dict) -> dict:
    with tempfile.TemporaryDirectory(prefix="chain-") as tmp:
        cpu0 = os.times()
        proc = subprocess.run([sys.executable, "-c", CHILD, tmp, json.dumps(shape), json.dumps(extra)],
                              cwd=checkout, capture_output=True, text=True,
                              env={**os.environ, "PYTHONPATH": str(checkout), "PYTHONDONTWRITEBYTECODE": "1"})
        cpu1 = os.times()
    if proc.returncode != 0:
        raise SystemExit(f"render in {checkout} failed:\n{proc.stderr[-3000:]}")
    line = next(l for l in proc.stdout.splitlines() if l.startswith("REPORTS "))
    cold, changed = json.loads(line[len("REPORTS "):])
    return {"cold": figures(cold), "changed": figures(changed),
            "cpu_s_both": round((cpu1.children_user + cpu1.children_system)
                                - (cpu0.children_user + cpu0.children_system), 2)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", help="another checkout (e.g. the main branch's) measured first")
    parser.add_argument("--scenes", type=int, default=5)
    parser.add_argument("--width", type=int, default=540)
    parser.add_argument("--height", type=int, default=960)
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--quality", default="standard")
    parser.add_argument("--json")
    args = parser.parse_args(argv)
    shape = {"scenes": args.scenes, "width": args.width, "height": args.height, "fps": args.fps,
             "quality": args.quality}
    result: dict = {"date": time.strftime("%Y-%m-%d"), "cpus": os.cpu_count(), "shape": shape}
    if args.before:
        result["before"] = measure(Path(args.before).resolve(), shape, {})
    result["serial"] = measure(ROOT, shape, {"NARRATION_WORKERS": "1"})
    result["side_by_side"] = measure(ROOT, shape, {"NARRATION_WORKERS": "2"})
    text = json.dumps(result, indent=2)
    if args.json:
        Path(args.json).write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
