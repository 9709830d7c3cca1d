#!/usr/bin/env python3
"""What open dashboards cost the API process (issue 28): CPU seconds of `main_worker.py serve` over
--seconds (20) with nobody watching, with --listeners (20) GET /v1/events streams open, and with as
many clients polling GET /v1/jobs?limit=50 every second (what each dashboard did before live events).
The spool holds --jobs (60) queued jobs, so every look reads real summaries. Figures: CPU seconds
per phase and each phase's ratio to the idle one, one run, on this machine as loaded as it is.

    python benchmarks/events_listeners.py [--listeners 20] [--seconds 20] [--jobs 60] [--json OUT]
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from api_helpers import ApiProcess  # noqa: E402
from daemon_helpers import tiny_job  # noqa: E402

TOKEN = "bench-events"


def cpu_over(proc: psutil.Process, seconds: float) -> float:
    start = proc.cpu_times()
    time.sleep(seconds)
    end = proc.cpu_times()
    return round((end.user + end.system) - (start.user + start.system), 3)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listeners", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--jobs", type=int, default=60)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        api = ApiProcess(Path(folder), "serve", token=TOKEN)
        try:
            for n in range(args.jobs):
                api.post("/v1/jobs", json=tiny_job(f"bench-{n}"))
            proc = psutil.Process(api.proc.pid)
            figures = {"idle_cpu_s": cpu_over(proc, args.seconds)}

            streams = [requests.get(api.url + "/v1/events", headers=api.headers(), stream=True, timeout=60)
                       for _ in range(args.listeners)]
            stop = threading.Event()

            def drain(response):
                try:
                    for _ in response.iter_content(chunk_size=None):
                        if stop.is_set():
                            return
                except (requests.RequestException, AttributeError):   # closed under the reader
                    return
            readers = [threading.Thread(target=drain, args=(s,), daemon=True) for s in streams]
            for reader in readers:
                reader.start()
            figures["listeners_cpu_s"] = cpu_over(proc, args.seconds)
            stop.set()
            for stream in streams:
                stream.close()

            polling = threading.Event()

            def poll():
                session = requests.Session()
                while not polling.is_set():
                    session.get(api.url + "/v1/jobs?limit=50", headers=api.headers(), timeout=30)
                    polling.wait(1.0)
            pollers = [threading.Thread(target=poll, daemon=True) for _ in range(args.listeners)]
            for poller in pollers:
                poller.start()
            figures["polling_cpu_s"] = cpu_over(proc, args.seconds)
            polling.set()
        finally:
            api.stop()
    idle = max(figures["idle_cpu_s"], 1e-3)
    figures.update(listeners=args.listeners, seconds=args.seconds, jobs=args.jobs,
                   listeners_over_idle=round(figures["listeners_cpu_s"] / idle, 2),
                   polling_over_idle=round(figures["polling_cpu_s"] / idle, 2),
                   polling_over_listeners=round(figures["polling_cpu_s"] / max(figures["listeners_cpu_s"], 1e-3), 2))
    print(json.dumps(figures, indent=1))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
