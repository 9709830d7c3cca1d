"""Helpers for the job API tests: a real `serve` / `run --serve` process on a free port."""
from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import requests

from daemon_helpers import ROOT, wait_for, worker_env

HELPERS = Path(__file__).resolve().parent / "daemon_helpers.py"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ApiProcess:
    """`main_worker.py <args>` (or the fake-render twin) with API_PORT on a free port."""

    def __init__(self, tmp_path: Path, *args: str, fake: bool = False, token: str = "",
                 name: str = "api", **env_overrides):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.token = token
        env = worker_env(tmp_path, API_HOST="127.0.0.1", API_PORT=self.port, API_TOKEN=token,
                         **env_overrides)
        script = HELPERS if fake else ROOT / "main_worker.py"
        self.log = tmp_path / f"{name}.out"
        self.proc = subprocess.Popen([sys.executable, str(script), *args], cwd=tmp_path, env=env,
                                     stdout=open(self.log, "ab"), stderr=subprocess.STDOUT)
        wait_for(self._up, timeout=90, what=f"the API on port {self.port} ({self.log})")

    def _up(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"the server exited {self.proc.returncode}: {self.log.read_text()[-3000:]}")
        try:
            requests.get(self.url + "/health", timeout=2)
            return True
        except requests.ConnectionError:
            return False

    def headers(self, **extra) -> dict:
        out = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        out.update(extra)
        return out

    def get(self, path: str, **kw):
        kw.setdefault("headers", self.headers())
        kw.setdefault("timeout", 30)
        return requests.get(path if path.startswith(('http://', 'https://')) else self.url + path, **kw)

    def post(self, path: str, **kw):
        kw.setdefault("headers", self.headers())
        kw.setdefault("timeout", 120)
        return requests.post(path if path.startswith(('http://', 'https://')) else self.url + path, **kw)

    def delete(self, path: str, **kw):
        kw.setdefault("headers", self.headers())
        kw.setdefault("timeout", 30)
        return requests.delete(path if path.startswith(('http://', 'https://')) else self.url + path, **kw)

    def stop(self, timeout: float = 60) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                return self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        return self.proc.wait(timeout=10)


def send_generate(port: int, token: str, video: dict) -> socket.socket:
    """A POST /generate of a one-scene job sent on its own connection, the answer left unread."""
    body = json.dumps({"output_filename": "wait.mp4", "video": video,
                       "scenes": [{"type": "image", "duration": 1, "motion": "none"}]}).encode()
    sock = socket.create_connection(("127.0.0.1", port), timeout=60)
    sock.sendall(f"POST /generate HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\n"
                 f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)
    return sock


def wait_state(api: ApiProcess, job_id: str, states, timeout: float = 180) -> dict:
    states = {states} if isinstance(states, str) else set(states)

    def check():
        answer = api.get(f"/v1/jobs/{job_id}")
        return answer.json() if answer.status_code == 200 and answer.json()["state"] in states else None
    return wait_for(check, timeout=timeout, interval=0.1, what=f"job {job_id} in {states}")


