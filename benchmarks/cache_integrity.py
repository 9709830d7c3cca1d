#!/usr/bin/env python3
"""What checking cached objects costs on a warm render (issue 22).

    python benchmarks/cache_integrity.py [--scenes 5] [--width 1080] [--height 1920] [--fps 30]
        [--rounds 5] [--baseline /path/to/a/checkout/before] [--json OUT]

The benchmark job (benchmarks/benchmark_support.py) is rendered once cold into a private
cache, then again and again warm: every narration, picture, piece, the soundtrack, the joined
MP4 and the poster come out of the cache. Each warm render runs in a fresh process, so each
object it serves is hashed in full once (the worst case: a long-running worker hashes an
unchanged object once per REVERIFY_S and only stats it in between). Variants, alternated
round by round so that other load on the machine hits them alike:

  after      this tree: size + SHA-256 at the first serve in a process, then a stat
  no-digest  this tree with the digest check switched off (size only): what the check costs
  before     --baseline's tree (e.g. `git worktree add /tmp/before <commit>`), its own cold
             cache: MD5 at the first serve, as the cache checked before issue 22

Per variant: the median wall and CPU seconds of `render_job`, the seconds spent in the cache's
check (DiskLevel.verify, the same method in both trees), how many checks and the bytes
of the objects checked (each hashed once per process; stat only after that).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def child(tree: Path, folder: Path, variant: str, shape: list[int]) -> None:
    """Render the job once in this process (tree on sys.path); print one JSON line."""
    sys.path.insert(0, str(tree))
    sys.path.insert(0, str(tree / "tests"))
    from folders import folder_env
    try:
        from benchmarks.benchmark_support import EXAMPLES, BenchShape, synthetic_job
        from protovideo.pipeline.jobcheck import JobChecker
    except ImportError:   # a --baseline tree from before the benchmark moved to benchmarks/
        from protovideo.cli.benchmark_support import EXAMPLES, BenchShape, synthetic_job
        JobChecker = None
    from protovideo.pipeline.render import make_context, render_job
    from protovideo.runtime.settings import load_settings
    import cache.disk as disk

    spent = {"check_s": 0.0, "checks": 0, "checked_bytes": 0}
    verify = disk.DiskLevel.verify

    def timed_verify(self, entry):
        start = time.perf_counter()
        try:
            return verify(self, entry)
        finally:
            spent["check_s"] += time.perf_counter() - start
            spent["checks"] += 1
            spent["checked_bytes"] += entry.size

    disk.DiskLevel.verify = timed_verify
    if variant == "no-digest":
        disk.check_file = lambda memory, key, path, size, digest: (
            "" if path.stat().st_size == size else "size")
    env = {**folder_env(folder), "MAX_WORKERS": str(os.cpu_count() or 2)}
    settings = load_settings(env, cwd=folder, read_files=False)
    data = synthetic_job(BenchShape(*shape), "integrity")
    if JobChecker is not None:
        job = JobChecker(settings).parse(data, EXAMPLES)
    else:
        from jobmodel.spec import parse_job
        job = parse_job(data, base_dir=EXAMPLES)
    before, start = os.times(), time.perf_counter()
    result = render_job(job, make_context(settings), replace=True)   # rendered again on purpose
    wall, after = time.perf_counter() - start, os.times()
    stats = json.loads(result.report_path.read_text())["cache_stats"]
    cpu = (after.user - before.user) + (after.system - before.system) + \
        (after.children_user - before.children_user) + (after.children_system - before.children_system)
    print(json.dumps({"variant": variant, "wall_s": wall, "cpu_s": cpu, "hits": stats["hits"],
                      "misses": stats["misses"], **spent}))


def run_child(tree: Path, folder: Path, variant: str, shape: list[int]) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", str(tree), str(folder), variant,
                          *map(str, shape)], capture_output=True, text=True, timeout=1800)
    if out.returncode != 0:
        raise SystemExit(f"{variant} render failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scenes", type=int, default=5)
    parser.add_argument("--width", type=int, default=1080)
    parser.add_argument("--height", type=int, default=1920)
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--quality", default="standard")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--baseline", type=Path, help="a checkout of the code before, for 'before'")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    parser.add_argument("--json", help="write the result here as JSON")
    args = parser.parse_args(argv)
    if args.child:
        tree, folder, variant, *shape = args.child
        child(Path(tree), Path(folder), variant, [int(shape[0]), int(shape[1]), int(shape[2]),
                                                  int(shape[3]), shape[4]])
        return 0
    shape = [args.scenes, args.width, args.height, args.fps, args.quality]
    work = Path(tempfile.mkdtemp(prefix="cache-integrity-"))
    trees = {"after": ROOT, "no-digest": ROOT}
    if args.baseline:
        trees["before"] = args.baseline.resolve()
    folders = {"after": work / "after", "no-digest": work / "after", "before": work / "before"}
    cold = {}
    for variant in dict.fromkeys(("after", "before")):
        if variant in trees:
            print(f"cold render ({variant}) ...", file=sys.stderr, flush=True)
            cold[variant] = run_child(trees[variant], folders[variant], "cold", shape)
    runs: dict[str, list[dict]] = {v: [] for v in trees}
    for n in range(args.rounds):
        for variant in trees:
            run = run_child(trees[variant], folders[variant], variant, shape)
            assert run["misses"] == 0, f"{variant}: the warm render made something again: {run}"
            runs[variant].append(run)
        print(f"round {n + 1}/{args.rounds}: " + ", ".join(
            f"{v} {r[-1]['wall_s']:.3f}s" for v, r in runs.items()), file=sys.stderr, flush=True)
    summary = {}
    for variant, items in runs.items():
        summary[variant] = {name: round(statistics.median(r[name] for r in items), 4)
                            for name in ("wall_s", "cpu_s", "check_s", "checks", "checked_bytes")}
    result = {"date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "shape": shape, "rounds": args.rounds,
              "cold": cold, "median": summary, "runs": runs}
    text = json.dumps(result, indent=2)
    if args.json:
        Path(args.json).write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
