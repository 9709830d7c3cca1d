#!/usr/bin/env python3
"""/health and GET /v1/jobs/{id} latency while --waiters (100) POST /generate calls wait (issue 22).

1. `main_worker.py serve` (the API alone: no worker renders, so every /generate call waits);
2. --requests (300) requests of each kind with nobody waiting: the idle figures;
3. --waiters /generate calls sent on their own connections and left waiting (all queued);
4. the same requests again while they wait, then again after half of them hung up (abandoned).
A request that gets no answer within --timeout (10 s) counts as unanswered. Figures: p50/p95/p99
per phase and the p99 ratio waiting/idle, one run. Target: every request answered, p99 while
waiting within 5x the idle p99.

    python benchmarks/generate_wait.py [--waiters 100] [--requests 300] [--timeout 10] [--json OUT]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from api_helpers import ApiProcess, send_generate  # noqa: E402
from api_latency import TINY, report, summary  # noqa: E402

TOKEN = "bench-token"
TARGET_RATIO = 5.0


def measure(http: requests.Session, base: str, job_id: str, n: int, timeout: float) -> dict:
    samples = {"health": [], "get_job": []}
    unanswered = {"health": 0, "get_job": 0}
    for _ in range(n):
        for kind, path in (("health", "/health"), ("get_job", f"/v1/jobs/{job_id}")):
            if unanswered[kind] >= 3:          # starved: no point in waiting n times
                continue
            started = time.perf_counter()
            try:
                answer = http.get(base + path, timeout=timeout)
                assert answer.status_code == 200, answer.text
                samples[kind].append(time.perf_counter() - started)
            except requests.RequestException:
                unanswered[kind] += 1
        if min(unanswered.values()) >= 3:
            break
    return {kind: {**(summary(values) if values else {"n": 0}), "unanswered": unanswered[kind]}
            for kind, values in samples.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--waiters", type=int, default=100)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--timeout", type=float, default=10.0)
    parser.add_argument("--json", help="write the figures here as JSON")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="generate-wait-"))
    api = ApiProcess(folder, "serve", token=TOKEN, LOG_LEVEL="warning")
    base = api.url
    http = requests.Session()
    http.headers["Authorization"] = f"Bearer {TOKEN}"
    calls = []
    try:
        probe = http.post(base + "/v1/jobs", json={"id": "probe", "video": TINY,
                                                   "scenes": [{"duration": 1, "motion": "none"}]}, timeout=30)
        assert probe.status_code == 201, probe.text
        idle = measure(http, base, "probe", args.requests, args.timeout)
        calls = [send_generate(api.port, TOKEN, TINY) for _ in range(args.waiters)]
        queued, deadline = 0, time.monotonic() + 60
        while queued < args.waiters + 1 and time.monotonic() < deadline:
            try:
                queued = sum(http.get(base + "/v1/queue", timeout=args.timeout).json()["queued"].values())
            except requests.RequestException:
                pass
            time.sleep(0.2)
        waiting = measure(http, base, "probe", args.requests, args.timeout)
        for sock in calls[: args.waiters // 2]:
            sock.close()
        abandoned = measure(http, base, "probe", args.requests, args.timeout)
        result = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                  "load_average": [round(x, 1) for x in os.getloadavg()], "cpus": os.cpu_count(),
                  "waiters": args.waiters, "queued_while_waiting": queued,
                  "idle": idle, "waiting": waiting, "half_abandoned": abandoned}
        answered = all(phase[kind]["unanswered"] == 0 for phase in (idle, waiting, abandoned)
                       for kind in ("health", "get_job"))
        if answered:
            result["health_p99_ratio_waiting_to_idle"] = round(
                waiting["health"]["p99_ms"] / max(idle["health"]["p99_ms"], 0.01), 2)
        result["within_target"] = answered and queued >= args.waiters + 1 and \
            result["health_p99_ratio_waiting_to_idle"] <= TARGET_RATIO
    finally:
        for sock in calls:
            sock.close()
        api.stop()
    return report(result, args.json, folder)


if __name__ == "__main__":
    sys.exit(main())
