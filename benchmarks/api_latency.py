#!/usr/bin/env python3
"""Job API latency: p50/p95/p99 of GET /v1/jobs/{id} and GET /v1/jobs with --jobs (2,000) jobs
on record while a render runs in the same process (`run --serve`). Target: p95 within 20 ms.

1. --jobs jobs are submitted through the job source (low priority, tiny); every other one is
   cancelled, so the record holds queued and cancelled jobs;
2. `main_worker.py run --serve` starts on a private folder set (or Redis with --source redis)
   and takes a long critical job first: a render is running during the measurement;
   (--mode serve: the API in a `serve` process and the render in a separate `run` worker);
3. --requests (500) requests of each kind over one keep-alive connection: one job by a
   random id, and the first page of the list (limit 50); the render must still run at the end.

    python benchmarks/api_latency.py [--jobs 2000] [--requests 500] [--source spool|redis]
        [--redis-url URL] [--mode run-serve|serve] [--api-nice N] [--json OUT]
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from folders import folder_env  # noqa: E402
from protovideo.runtime.settings import SPECS, load_settings  # noqa: E402
from protovideo.service.sources import open_source  # noqa: E402

TARGET_MS = 20.0
TINY = {"width": 270, "height": 480, "fps": 12, "quality": "draft", "transition": "cut"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def summary(samples_s: list[float]) -> dict:
    ms = [s * 1000 for s in samples_s]
    return {"n": len(ms), "p50_ms": round(statistics.median(ms), 2), "p95_ms": round(percentile(ms, 95), 2),
            "p99_ms": round(percentile(ms, 99), 2), "max_ms": round(max(ms), 2)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--source", choices=["spool", "redis"], default="spool")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/14")
    parser.add_argument("--mode", choices=["run-serve", "serve"], default="run-serve",
                        help="run-serve: API and render in one process; serve: API process + worker process")
    parser.add_argument("--api-nice", type=int, default=None,
                        help="--mode serve: run the API process (only) at this nice value (negative needs root)")
    parser.add_argument("--json", help="write the figures here as JSON")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="api-latency-"))
    env = {k: v for k, v in os.environ.items() if k not in SPECS}
    env.update(folder_env(folder))
    port = free_port()
    env.update({"API_PORT": str(port), "API_HOST": "127.0.0.1", "API_TOKEN": "bench-token",
                "POLL_INTERVAL": "0.2", "MAX_WORKERS": "2", "LOG_LEVEL": "warning"})
    if args.source == "redis":
        env.update({"JOB_SOURCE": "redis", "REDIS_URL": args.redis_url,
                    "REDIS_KEY_PREFIX": f"pvbench-{os.getpid()}"})
    settings = load_settings(env, cwd=folder, read_files=False)
    source = open_source(settings, worker_name="bench")
    started = time.monotonic()
    ids = []
    for n in range(args.jobs):
        job = {"id": f"bench-{n:05d}", "priority": "low", "video": TINY,
               "scenes": [{"duration": 1, "motion": "none"}]}
        ids.append(source.submit(job).id)
    for job_id in ids[::2]:
        source.cancel(job_id)
    long_job = {"id": "bench-long-render", "priority": "critical", "video": TINY,
                "scenes": [{"duration": 1, "narration_text": f"Scene number {n} of a long render."}
                           for n in range(120)]}
    source.submit(long_job)
    setup_s = time.monotonic() - started

    log = open(folder / "server.out", "wb")
    command = ["run", "--serve"] if args.mode == "run-serve" else ["serve"]
    nice = (lambda: os.setpriority(os.PRIO_PROCESS, 0, args.api_nice)) \
        if args.api_nice is not None and args.mode == "serve" else None
    proc = subprocess.Popen([sys.executable, str(ROOT / "main_worker.py"), *command], cwd=folder,
                            env=env, stdout=log, stderr=subprocess.STDOUT, preexec_fn=nice)
    worker = None
    if args.mode == "serve":
        worker = subprocess.Popen([sys.executable, str(ROOT / "main_worker.py"), "run"], cwd=folder,
                                  env=env, stdout=log, stderr=subprocess.STDOUT,
                                  preexec_fn=lambda: os.setpriority(os.PRIO_PROCESS, 0, max(0, os.nice(0))))
    base = f"http://127.0.0.1:{port}"
    http = requests.Session()
    http.headers["Authorization"] = "Bearer bench-token"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                state = http.get(f"{base}/v1/jobs/bench-long-render", timeout=5).json()
                if state["state"] == "started" and state["progress"]["done"] >= 1:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise SystemExit(f"the render did not start; see {folder / 'server.out'}")
            time.sleep(0.2)
        rng = random.Random(7)
        one, page, filtered = [], [], []
        for _ in range(args.requests):
            t = time.perf_counter()
            answer = http.get(f"{base}/v1/jobs/{rng.choice(ids)}", timeout=10)
            one.append(time.perf_counter() - t)
            assert answer.status_code == 200, answer.text
            t = time.perf_counter()
            answer = http.get(f"{base}/v1/jobs", params={"limit": 50}, timeout=10)
            page.append(time.perf_counter() - t)
            assert answer.status_code == 200 and len(answer.json()["jobs"]) == 50
            t = time.perf_counter()
            answer = http.get(f"{base}/v1/jobs", params={"limit": 50, "state": "cancelled"}, timeout=10)
            filtered.append(time.perf_counter() - t)
            assert answer.status_code == 200
        still = http.get(f"{base}/v1/jobs/bench-long-render", timeout=10).json()
        result = {
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "source": args.source,
            "mode": args.mode, "api_nice": args.api_nice, "load_average": [round(x, 1) for x in os.getloadavg()],
            "jobs_on_record": args.jobs + 1, "setup_s": round(setup_s, 1),
            "render_running_at_end": still["state"] == "started",
            "render_progress_at_end": still["progress"],
            "get_job": summary(one), "list_first_page": summary(page), "list_cancelled_page": summary(filtered),
            "target_p95_ms": TARGET_MS,
        }
        result["within_target"] = all(result[k]["p95_ms"] <= TARGET_MS
                                      for k in ("get_job", "list_first_page", "list_cancelled_page"))
    finally:
        for child in (proc, worker):
            if child is None:
                continue
            child.terminate()
            try:
                child.wait(timeout=60)
            except subprocess.TimeoutExpired:
                child.kill()
        source.close()
    return report(result, args.json, folder)


def report(result: dict, json_path: str | None, folder: Path) -> int:
    """Print the figures (and write them to `json_path`), drop `folder`; 0 when within target."""
    print(json.dumps(result, indent=2))
    if json_path:
        Path(json_path).write_text(json.dumps(result, indent=2))
    shutil.rmtree(folder, ignore_errors=True)
    return 0 if result["within_target"] else 1


if __name__ == "__main__":
    sys.exit(main())
