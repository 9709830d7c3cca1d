"""Helpers for the daemon tests: a fast fake render, worker settings/env, subprocess workers.

Run as a script, this file is main_worker.py with the fake render in its runtime,
so that multi-process tests about queue semantics need not encode videos:

    python tests/daemon_helpers.py run [--once]

The fake render sleeps FAKE_SCENE_SECONDS per scene (checking the cancel event),
writes OUTPUT_DIR/<output name> atomically and appends "<job id> <pid>" to
OUTPUT_DIR/../renders.log. Job ids starting with "transient" raise
TransientError, with "boom" JobFailed.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from folders import folder_env  # noqa: E402
from jobmodel.errors import JobFailed, TransientError  # noqa: E402


# ---------------------------------------------------------------- fake render
def fake_make_context(runtime, log=None, progress=None, cancel=None):
    return SimpleNamespace(runtime=runtime, settings=runtime.settings, log=log, progress=progress,
                           cancel=cancel)


def fake_render(job, ctx, output_path=None):
    start = time.monotonic()
    per_scene = float(os.environ.get("FAKE_SCENE_SECONDS", "0"))
    total = len(job.scenes)
    for done in range(total):
        if ctx.cancel is not None and ctx.cancel.wait(per_scene):
            raise JobFailed("the job was cancelled (worker stopping or time limit reached)")
        if ctx.progress:
            ctx.progress(done + 1, total, f"scene {done}")
    if job.id.startswith("transient"):
        raise TransientError("the image API answered 503")
    if job.id.startswith("boom"):
        raise JobFailed("scene 0 asset is broken", scene=0)
    out_dir = ctx.settings.path("OUTPUT_DIR")
    out_dir.mkdir(parents=True, exist_ok=True)
    output = Path(output_path) if output_path else out_dir / job.output_name
    tmp = output.with_name(f".{output.name}.{os.getpid()}.tmp")
    tmp.write_text(f"video of {job.id}\n")
    os.replace(tmp, output)
    with open(out_dir.parent / "renders.log", "a", encoding="utf-8") as ledger:
        ledger.write(f"{job.id} {os.getpid()}\n")
    return SimpleNamespace(output=output, duration_s=float(total), report={"job_id": job.id},
                           report_path=None)


def fake_runtime(settings, **parts):
    """The process's runtime, rendering with the fake render."""
    from protovideo.pipeline.runtime import Runtime
    return Runtime.create(settings, render=fake_render, make_context=fake_make_context, **parts)


def ledger(tmp_path: Path) -> list[str]:
    file = tmp_path / "var" / "renders.log"
    if not file.exists():
        return []
    return [line.split()[0] for line in file.read_text().splitlines() if line.strip()]


# ---------------------------------------------------------------- jobs and settings
def tiny_job(job_id: str, scenes: int = 1, priority: str | None = None, **extra) -> dict:
    job = {"id": job_id,
           "video": {"width": 160, "height": 284, "fps": 12, "transition": "cut", "quality": "draft"},
           "scenes": [{"duration": 1, "motion": "none"} for _ in range(scenes)]}
    if priority:
        job["priority"] = priority
    job.update(extra)
    return job


def worker_env(tmp_path: Path, **overrides) -> dict[str, str]:
    """Environment for a subprocess worker whose folders all live in tmp_path."""
    from protovideo.runtime.settings import SPECS
    env = {k: v for k, v in os.environ.items() if k not in SPECS}
    env.update(folder_env(tmp_path))
    env.update({
        "MAX_WORKERS": "1",
        "POLL_INTERVAL": "0.1",
        "PYTHONUNBUFFERED": "1",
    })
    env.update({k: str(v) for k, v in overrides.items()})
    return env


def start_worker(tmp_path: Path, env: dict, *args: str, fake: bool = True,
                 name: str = "worker") -> subprocess.Popen:
    script = Path(__file__).resolve() if fake else ROOT / "main_worker.py"
    log = open(tmp_path / f"{name}.out", "ab")
    return subprocess.Popen([sys.executable, str(script), "run", *args], cwd=tmp_path, env=env,
                            stdout=log, stderr=subprocess.STDOUT)


def wait_for(predicate, timeout: float = 60.0, interval: float = 0.05, what: str = "condition"):
    """Poll until predicate() is truthy; fail the test (not a speed assertion) after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def stop(proc: subprocess.Popen, timeout: float = 60.0) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    return proc.wait(timeout=timeout)


def read_json(path: Path):
    return json.loads(Path(path).read_text())


if __name__ == "__main__":
    from protovideo.cli.main import main
    sys.exit(main(sys.argv[1:], make_runtime=fake_runtime))


# ---------------------------------------------------------------- a job API server for tests
class JobApi:
    """An in-memory job server speaking the protocol of protovideo/sources/http_api.py."""

    def __init__(self, token: str = "", port: int = 0):
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        self.token = token
        self.lock = threading.Lock()
        self.jobs: dict[str, dict] = {}
        self.seq = 0
        self.calls: list[tuple[str, str, dict, int]] = []   # method, path, body, client port
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _answer(self, code: int, body=None):
                data = json.dumps(body).encode() if body is not None else b""
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _handle(self, method: str):
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"null") if length else None
                if api.token and self.headers.get("Authorization") != f"Bearer {api.token}":
                    return self._answer(401, {"error": "unauthorized"})
                with api.lock:
                    api.calls.append((method, self.path, body, self.client_address[1]))
                    code, answer = api.route(method, self.path, body or {})
                self._answer(code, answer)

            def do_GET(self):
                self._handle("GET")

            def do_POST(self):
                self._handle("POST")

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def add(self, job: dict) -> str:
        with self.lock:
            return self._add(job)

    def _add(self, job: dict) -> str:
        self.seq += 1
        job_id = job.get("id") or f"api{self.seq}"
        self.jobs[job_id] = {"job": job, "priority": job.get("priority", "normal"),
                             "state": "queued", "attempts": 0, "seq": self.seq,
                             "not_before": 0.0, "lease_until": 0.0, "progress": {}}
        return job_id

    def route(self, method: str, path: str, body: dict):
        from protovideo.service.sources.base import PRIORITIES
        parts = path.split("/")[2:]          # after /api
        now = time.time()
        if method == "POST" and parts == ["jobs", "claim"]:
            ready = [(PRIORITIES.index(j["priority"]), j["seq"], i) for i, j in self.jobs.items()
                     if (j["state"] == "queued" and j["not_before"] <= now)
                     or (j["state"] == "started" and j["lease_until"] < now)]
            if not ready:
                return 204, None
            job_id = min(ready)[2]
            job = self.jobs[job_id]
            job.update(state="started", worker=body["worker"],
                       lease_until=now + float(body["lease_seconds"]))
            job["attempts"] += 1
            return 200, {"id": job_id, "job": job["job"], "attempts": job["attempts"],
                         "priority": job["priority"]}
        if method == "POST" and parts == ["jobs"]:
            job = dict(body["job"], priority=body.get("priority") or
                       body["job"].get("priority", "normal"))
            return 201, {"id": self._add(job)}
        if method == "GET" and parts == ["queue"]:
            queued = {p: 0 for p in PRIORITIES}
            for job in self.jobs.values():
                if job["state"] == "queued":
                    queued[job["priority"]] += 1
            return 200, {"queued": queued, "queued_total": sum(queued.values())}
        if len(parts) >= 2 and parts[0] == "jobs" and parts[1] in self.jobs:
            job = self.jobs[parts[1]]
            if method == "GET" and len(parts) == 2:
                info = {"id": parts[1], "state": job["state"], "attempts": job["attempts"],
                        "progress": job["progress"]}
                if "record" in job:
                    info["record"] = job["record"]
                return 200, info
            action = parts[2] if len(parts) == 3 else ""
            if job["state"] != "started" or job.get("worker") != body.get("worker"):
                return 409, {"error": "not your job"}
            if action == "heartbeat":
                job["lease_until"] = now + 30
                job["progress"] = body.get("progress") or {}
                return 200, {}
            if action == "complete":
                job.update(state="finished", record=body["result"])
                return 200, {}
            if action == "fail":
                if body["retry"]:
                    job.update(state="queued", not_before=now + body["retry_in"])
                else:
                    job.update(state="failed", record=body["record"])
                return 200, {}
            if action == "release":
                job.update(state="queued")
                job["attempts"] -= 1
                return 200, {}
        return 404, {"error": "not found"}
