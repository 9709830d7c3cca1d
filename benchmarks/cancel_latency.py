"""How fast a running job stops after `cancel` (the job API promises within 5 s).

    python benchmarks/cancel_latency.py [--rounds 4] [--redis redis://127.0.0.1:6379/14]

Starts a real worker process (`main_worker.py run`, the real pipeline, embedded defaults) on a
fresh spool (or Redis), submits long narrated jobs one after another and cancels each at a
different point of its render (narration, pictures, encoding), timing from the cancel call to
the job's state `cancelled`. Prints one line per round and the worst; checks that no output
was published and that the worker went on to render a last job.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from folders import folder_env  # noqa: E402
from jobmodel.states import JobState  # noqa: E402
from protovideo.runtime.settings import SPECS, load_settings  # noqa: E402
from protovideo.service.sources import open_source  # noqa: E402

SENTENCE = "This sentence is spoken so that the scene has narration to synthesize and to time. "


def long_job(job_id: str) -> dict:
    return {"id": job_id, "video": {"width": 540, "height": 960, "fps": 24, "quality": "standard"},
            "scenes": [{"narration_text": SENTENCE * 2, "text": {"content": f"Scene {n}"},
                        "motion": "zoom_in"} for n in range(12)]}


def wait(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise SystemExit(f"timed out waiting for {what}")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--redis", help="use JOB_SOURCE=redis on this server")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="cancel-bench-"))
    env = {k: v for k, v in os.environ.items() if k not in SPECS}
    env.update(folder_env(tmp), POLL_INTERVAL="0.1", PYTHONUNBUFFERED="1")
    if args.redis:
        env.update(JOB_SOURCE="redis", REDIS_URL=args.redis,
                   REDIS_KEY_PREFIX=f"cancelbench-{uuid.uuid4().hex[:8]}")
    settings = load_settings(env, cwd=tmp, read_files=False)
    source = open_source(settings)
    log = open(tmp / "worker.out", "wb")
    worker = subprocess.Popen([sys.executable, str(ROOT / "main_worker.py"), "run"], cwd=tmp,
                              env=env, stdout=log, stderr=subprocess.STDOUT)
    latencies = []
    try:
        for n in range(args.rounds):
            job_id = f"long{n}"
            source.submit(long_job(job_id))
            # cancel at a different point each round: 0, 1, 2... scenes done
            wait(lambda: (info := source.get(job_id)) and info.state is JobState.STARTED
                 and info.progress["done"] >= n, 600, f"{job_id} under way")
            what = source.get(job_id).progress
            asked = time.monotonic()
            source.cancel(job_id)
            wait(lambda: source.get(job_id).state is JobState.CANCELLED, 60, f"{job_id} cancelled")
            latency = time.monotonic() - asked
            latencies.append(latency)
            print(f"round {n}: cancelled at {what['done']}/{what['total']} ({what['what']}), "
                  f"stopped after {latency:.2f} s")
        source.submit({"id": "last", "video": {"width": 270, "height": 480, "fps": 12},
                       "scenes": [{"duration": 1}]})
        wait(lambda: source.get("last").state is JobState.FINISHED, 600, "the last job")
    finally:
        worker.terminate()
        worker.wait(60)
    published = sorted(p.name for p in settings.path("OUTPUT_DIR").iterdir())
    assert not [name for name in published if name.startswith("long")], published
    print(json.dumps({"source": settings.JOB_SOURCE, "rounds": len(latencies),
                      "max_s": round(max(latencies), 2),
                      "median_s": round(sorted(latencies)[len(latencies) // 2], 2),
                      "published": published}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
