#!/usr/bin/env python3
"""What listing jobs costs when the jobs are large (issue 22).

    python benchmarks/list_cost.py [--jobs 50] [--megabytes 1.6] [--rounds 30]
        [--baseline /path/to/a/checkout/before] [--json OUT]

A spool of `--jobs` queued jobs of `--megabytes` each (5 of them claimed, so running) is made by
each variant's own code, then, in that variant's process, `list_jobs(limit=jobs)` and a job's
`status(id)` run `--rounds` times each, as a dashboard polling the API does. Variants, each in
its own fresh process, alternated round by round with the others' spools made first:

  after      this tree: lists and status read each job's brief (SPOOL_DIR/briefs/)
  before     --baseline's tree (e.g. `git worktree add /tmp/before main`): they read the jobs

Per variant: the first list (a fresh process, nothing cached) and the median list and status, in
ms, and the bytes the process read per list (the kernel's count, /proc/self/io rchar).
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


def read_bytes() -> int:
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    return 0


def settings_for(folder: Path):
    from protovideo.runtime.settings import load_settings
    env = {"SPOOL_DIR": str(folder / "spool"), "OUTPUT_DIR": str(folder / "out"),
           "REPORT_DIR": str(folder / "reports"), "CACHE_DIR": str(folder / "cache"),
           "WORK_DIR": str(folder / "work"), "LOG_FILE": "", "LEASE_SECONDS": "3600"}
    return load_settings(env, read_files=False)


def child_make(tree: Path, folder: Path, jobs: int, chars: int) -> None:
    sys.path.insert(0, str(tree))
    from protovideo.service.sources.spool import SpoolSource
    source = SpoolSource(settings_for(folder))
    for n in range(jobs):
        source.submit({"id": f"big{n:03d}", "scenes": [{"duration": 1, "text": f"Job {n}"}],
                       "narration_text": "x" * chars})
    for _ in range(min(5, jobs)):
        source.claim()


def child_measure(tree: Path, folder: Path, jobs: int, rounds: int) -> None:
    sys.path.insert(0, str(tree))
    from protovideo.service.sources.spool import SpoolSource
    source = SpoolSource(settings_for(folder))
    lists, statuses, read = [], [], []
    for n in range(rounds):
        before_bytes, start = read_bytes(), time.perf_counter()
        page, _ = source.list_jobs(limit=jobs)
        lists.append(time.perf_counter() - start)
        read.append(read_bytes() - before_bytes)
        assert len(page) == jobs, len(page)
        start = time.perf_counter()
        assert source.status(f"big{n % jobs:03d}")["state"] in ("queued", "started")
        statuses.append(time.perf_counter() - start)
    print(json.dumps({"first_list_ms": 1000 * lists[0], "list_ms": 1000 * statistics.median(lists[1:]),
                      "status_ms": 1000 * statistics.median(statuses),
                      "first_list_read": read[0], "list_read": statistics.median(read[1:])}))


def run_child(*args: str) -> dict | None:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, env=env,
                          check=True)
    lines = done.stdout.strip().splitlines()
    return json.loads(lines[-1]) if lines else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=50)
    parser.add_argument("--megabytes", type=float, default=1.6)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3, help="fresh processes per variant")
    parser.add_argument("--baseline", type=Path, help="a checkout of the code before (its own spool)")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        step, tree, folder = args.child
        if step == "make":
            child_make(Path(tree), Path(folder), args.jobs, int(args.megabytes * 1e6))
        else:
            child_measure(Path(tree), Path(folder), args.jobs, args.rounds)
        return 0
    trees = {"after": ROOT}
    if args.baseline:
        trees["before"] = args.baseline.resolve()
    results: dict[str, list[dict]] = {name: [] for name in trees}
    with tempfile.TemporaryDirectory(prefix="list-cost-") as tmp:
        for name, tree in trees.items():
            run_child("--jobs", str(args.jobs), "--megabytes", str(args.megabytes),
                      "--child", "make", str(tree), str(Path(tmp) / name))
        for _ in range(args.repeats):
            for name, tree in trees.items():
                results[name].append(run_child("--jobs", str(args.jobs), "--rounds", str(args.rounds),
                                               "--child", "measure", str(tree), str(Path(tmp) / name)))
    summary = {name: {key: statistics.median(r[key] for r in runs) for key in runs[0]}
               for name, runs in results.items()}
    print(f"{args.jobs} queued/running jobs of {args.megabytes:g} MB; {args.rounds} lists and "
          f"statuses per process, {args.repeats} processes per variant (medians)")
    print(f"{'variant':8} {'first list':>11} {'list':>9} {'status':>9} {'read/list':>12} {'1st read':>12}")
    for name, s in summary.items():
        print(f"{name:8} {s['first_list_ms']:9.1f}ms {s['list_ms']:7.2f}ms {s['status_ms']:7.2f}ms "
              f"{s['list_read'] / 1e6:10.3f}MB {s['first_list_read'] / 1e6:10.3f}MB")
    if "before" in summary:
        print(f"list: {summary['before']['list_ms'] / summary['after']['list_ms']:.0f}x faster; "
              f"status: {summary['before']['status_ms'] / summary['after']['status_ms']:.0f}x faster")
    if args.json:
        args.json.write_text(json.dumps({"summary": summary, "runs": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
