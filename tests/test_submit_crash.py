"""Submit is atomic under crashes: kill -9 at any instant leaves no job or exactly one, and the
same Idempotency-Key retried afterwards finds it (or queues it, once).

- Every write of a spool submission, in turn, is the last thing a child process does
  (os._exit right before or right after that rename): the retry leaves exactly one job.
- The real API server (`serve`, its own process) takes 20 concurrent submits with keys and
  is killed with SIGKILL in the middle of the burst, then restarted, and every key is sent
  again; a few rounds, on the spool and on Redis. The jobs are counted from the spool's
  files or Redis' keys and streams directly, not through the API.
"""
from __future__ import annotations

import collections
import json
import random
import signal
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import pytest
import redis
import requests

from api_helpers import ApiProcess
from daemon_helpers import ROOT, tiny_job, worker_env

BURST = 20
ROUNDS = 3


def unnamed_job(marker: str) -> dict:
    """A job without an id (the store picks one), told apart by its output_filename."""
    job = tiny_job("x", output_filename=marker)
    del job["id"]
    return job


def spool_jobs(tmp_path: Path) -> collections.Counter:
    """(output_filename, id) of every queued job file in the spool, read from the files."""
    found = collections.Counter()
    for path in (tmp_path / "var" / "spool" / "incoming").glob("*.json"):
        if path.name.startswith("."):
            continue
        data = json.loads(path.read_text(encoding="utf-8"))
        found[(data.get("output_filename"), data.get("id"))] += 1
    return found


# ---------------------------------------------------------------- a crash at each write
CHILD = r"""
import os, sys, json
from protovideo.runtime.settings import load_settings
from protovideo.service.sources.spool import SpoolSource
crash_at, when = int(sys.argv[1]), sys.argv[2]
real, calls = os.replace, [0]
def replace(src, dst):
    calls[0] += 1
    if calls[0] == crash_at and when == "before":
        os._exit(137)
    real(src, dst)
    if calls[0] == crash_at and when == "after":
        os._exit(137)
os.replace = replace
source = SpoolSource(load_settings(dict(os.environ), read_files=False), worker_name="child")
source.submit(json.loads(sys.argv[3]), idempotency_key=sys.argv[4])
sys.exit(0)
"""


@pytest.mark.parametrize("crash_at,when", [(1, "before"), (1, "after"), (2, "after")])
def test_a_crash_at_any_write_of_a_spool_submit_leaves_one_job_after_the_retry(tmp_path, crash_at, when):
    from protovideo.runtime.settings import load_settings
    from protovideo.service.sources.spool import SpoolSource
    env = worker_env(tmp_path)
    job, key = unnamed_job("crashed"), "key-crash"
    child = subprocess.run([sys.executable, "-c", CHILD, str(crash_at), when, json.dumps(job), key],
                           cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert child.returncode == 137, child.stderr          # it died where it was told to
    source = SpoolSource(load_settings(env, read_files=False), worker_name="test")
    result = source.submit(job, idempotency_key=key)
    again = source.submit(job, idempotency_key=key)
    assert again.id == result.id and not again.created
    assert spool_jobs(tmp_path) == {("crashed", result.id): 1}


# ---------------------------------------------------------------- kill -9 during a burst
@pytest.fixture(params=["spool", "redis"])
def source_env(request):
    if request.param == "spool":
        yield "spool", {}
        return
    redis_url = request.getfixturevalue("redis_url")
    prefix = f"pvcrash-{uuid.uuid4().hex[:8]}"
    yield "redis", {"JOB_SOURCE": "redis", "REDIS_URL": redis_url, "REDIS_KEY_PREFIX": prefix}
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(f"{prefix}:*"))
    if keys:
        client.delete(*keys)
    client.close()


def redis_jobs(env: dict) -> collections.Counter:
    """(output_filename, id) of every job hash, and of every entry in the job streams,
    read from Redis directly: a job queued twice shows twice."""
    client = redis.Redis.from_url(env["REDIS_URL"], decode_responses=True)
    prefix = env["REDIS_KEY_PREFIX"]
    found = collections.Counter()
    try:
        for key in client.scan_iter(f"{prefix}:job:*"):
            data = json.loads(client.hget(key, "job") or "{}")
            found[("hash", data.get("output_filename"), data.get("id"))] += 1
        for stream in client.scan_iter(f"{prefix}:stream:*"):
            for _entry, fields in client.xrange(stream):
                data = json.loads(fields["job"])
                found[("stream", data.get("output_filename"), data.get("id"))] += 1
    finally:
        client.close()
    return found


def burst(api: ApiProcess, jobs: dict[str, dict], kill_after: int) -> dict[str, str]:
    """Send every job at once (its key -> job); SIGKILL the server after `kill_after`
    answers. The ids answered before the kill."""
    answered: dict[str, str] = {}
    lock, killed = threading.Lock(), threading.Event()
    start = threading.Barrier(len(jobs))

    def send(key: str, job: dict) -> None:
        start.wait()
        try:
            answer = api.post("/v1/jobs", json=job, headers=api.headers(**{"Idempotency-Key": key}),
                              timeout=60)
        except requests.RequestException:
            return                                        # the server died under it
        with lock:
            if answer.status_code in (200, 201):
                answered[key] = answer.json()["id"]
            if len(answered) >= kill_after and not killed.is_set():
                killed.set()
                api.proc.send_signal(signal.SIGKILL)

    threads = [threading.Thread(target=send, args=item) for item in jobs.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    if not killed.is_set():
        api.proc.send_signal(signal.SIGKILL)
    api.proc.wait(30)
    return answered


def test_kill_9_during_a_burst_of_submits_loses_and_doubles_nothing(tmp_path, source_env):
    kind, extra = source_env
    env_of = worker_env(tmp_path, **extra)
    rng = random.Random(22)
    api = ApiProcess(tmp_path, "serve", name="api-0", **extra)
    expected: dict[str, str] = {}                  # marker -> id, over all rounds
    try:
        for round_no in range(ROUNDS):
            jobs = {f"key-{round_no}-{k}": unnamed_job(f"burst-{round_no}-{k}") for k in range(BURST)}
            before = burst(api, jobs, kill_after=rng.randint(1, BURST // 2))
            api = ApiProcess(tmp_path, "serve", name=f"api-{round_no + 1}", **extra)
            for key, job in jobs.items():
                answer = api.post("/v1/jobs", json=job, headers=api.headers(**{"Idempotency-Key": key}))
                assert answer.status_code in (200, 201), answer.text
                job_id = answer.json()["id"]
                assert before.get(key, job_id) == job_id, key     # the job the first answer named
                again = api.post("/v1/jobs", json=job, headers=api.headers(**{"Idempotency-Key": key}))
                assert again.status_code == 200 and again.json()["id"] == job_id
                expected[job["output_filename"]] = job_id
            if kind == "spool":
                found = spool_jobs(tmp_path)
                assert found == {(marker, job_id): 1 for marker, job_id in expected.items()}
            else:
                found = redis_jobs(env_of)
                assert found == {**{("hash", m, i): 1 for m, i in expected.items()},
                                 **{("stream", m, i): 1 for m, i in expected.items()}}
    finally:
        api.stop()
