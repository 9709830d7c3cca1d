#!/usr/bin/env python3
"""A batch through the job API with a worker running: the time to validate and queue the whole
batch (POST /v1/batches), and jobs rendered per minute until the batch has ended.

`main_worker.py run --serve` (the real pipeline, spool source) on a private folder set; a template
with --rows rows (each a title and a gradient card, tiny frames, no narration unless --narrated);
the batch.ended webhook's arrival (a receiver on 127.0.0.1) ends the clock. Also printed: the same
rows validated one by one through POST /v1/validate, for scale.

    python benchmarks/batch_throughput.py [--rows 20] [--narrated] [--json OUT]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from api_helpers import free_port  # noqa: E402
from folders import folder_env  # noqa: E402
from protovideo.runtime.settings import SPECS  # noqa: E402
from webhook_receiver import Receiver  # noqa: E402

TINY = {"width": 270, "height": 480, "fps": 12, "quality": "draft", "transition": "cut"}


def template(narrated: bool) -> dict:
    first = {"duration": 1, "motion": "none", "text": {"content": "{{title}}", "fontsize": 90}}
    if narrated:
        first["narration_text"] = "This is {{title}}."
    return {"video": TINY, "output_filename": "row-{{n}}.mp4",
            "scenes": [first, {"type": "card", "duration": 1, "background": ["#102040", "{{colour}}"],
                               "text": "{{title}}"}]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=20)
    parser.add_argument("--narrated", action="store_true")
    parser.add_argument("--json", help="write the figures here")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="pv-batch-bench-"))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in SPECS}
    env.update(folder_env(folder), API_PORT=str(port), API_HOST="127.0.0.1", POLL_INTERVAL="0.1",
               ALLOW_PRIVATE_URLS="true", PYTHONUNBUFFERED="1")
    api = f"http://127.0.0.1:{port}"
    rows = [{"n": str(n), "title": f"Row {n}", "colour": f"#{(n * 37) % 256:02x}60c0"} for n in range(1, args.rows + 1)]
    log = open(folder / "worker.out", "ab")
    proc = subprocess.Popen([sys.executable, str(ROOT / "main_worker.py"), "run", "--serve"], cwd=folder,
                            env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                requests.get(api + "/health", timeout=2)
                break
            except requests.ConnectionError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise SystemExit(f"the API did not start: {(folder / 'worker.out').read_text()[-2000:]}")
                time.sleep(0.2)
        body = template(args.narrated)
        started = time.perf_counter()
        one_by_one = [requests.post(api + "/v1/validate", json={**body, "variables": r}, timeout=60).json()["valid"]
                      for r in rows]
        validate_s = time.perf_counter() - started
        assert all(one_by_one)
        with Receiver() as rx:
            started = time.perf_counter()
            answer = requests.post(api + "/v1/batches", json={"template": body, "rows": rows,
                                                              "batch_callback_url": rx.url}, timeout=300)
            queued_s = time.perf_counter() - started
            assert answer.status_code == 201, answer.text
            batch_id = answer.json()["id"]
            rx.wait(1, timeout=1800)
            ended_s = time.perf_counter() - started
        view = requests.get(f"{api}/v1/batches/{batch_id}", timeout=30).json()
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    figures = {"rows": args.rows, "narrated": args.narrated, "validate_and_queue_s": round(queued_s, 3),
               "validate_one_by_one_s": round(validate_s, 3), "batch_ended_s": round(ended_s, 2),
               "jobs_per_minute": round(60 * args.rows / ended_s, 1), "counts": view["counts"],
               "cpus": os.cpu_count()}
    print(json.dumps(figures, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))
    shutil.rmtree(folder, ignore_errors=True)
    return 0 if view["counts"]["finished"] == args.rows else 1


if __name__ == "__main__":
    sys.exit(main())
