"""Helpers for the SPLIT_SCENES tests: real worker processes (main_worker.py run, the real
pipeline) on one Redis, the job they share, and what Redis and the caches hold about it."""
from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time
from pathlib import Path

from daemon_helpers import ROOT, wait_for, worker_env
from protovideo.runtime.settings import load_settings
from protovideo.service.sources.redis_streams import RedisSource


def split_job(job_id: str, scenes: int = 6, seconds: float = 2.0) -> dict:
    """A narrated job of `scenes` scenes at 270x480, 12 fps, with fades (so transition pieces too)."""
    return {"id": job_id, "video": {"width": 270, "height": 480, "fps": 12, "quality": "draft",
                                    "transition": "fade", "transition_duration": 0.5},
            "scenes": [{"duration": seconds, "narration_text": f"Part {i} of the story.", "motion": "zoom_in"}
                       for i in range(scenes)]}


def split_env(tmp_path: Path, redis_url: str, prefix: str, **overrides) -> dict[str, str]:
    return worker_env(tmp_path, JOB_SOURCE="redis", REDIS_URL=redis_url, REDIS_KEY_PREFIX=prefix,
                      **{"SPLIT_SCENES": "3", "MAX_WORKERS": "1", "LEASE_SECONDS": "10", **overrides})


class Workers:
    """Worker processes, each with its own folders under tmp_path/<name> (as on another machine)
    unless `shared_cache` names one CACHE_DIR for all (workers on one machine)."""

    def __init__(self, tmp_path: Path, env: dict[str, str], names=("a", "b"), shared_cache: Path | None = None):
        self.tmp_path, self.procs, self.env = tmp_path, {}, env
        for name in names:
            folder = tmp_path / name
            folder.mkdir(parents=True, exist_ok=True)
            own = dict(env, CACHE_DIR=str(shared_cache or folder / "cache"), WORK_DIR=str(folder / "work"),
                       LOG_FILE=str(folder / "worker.log"))
            with open(folder / "worker.out", "ab") as out:
                self.procs[name] = subprocess.Popen([sys.executable, str(ROOT / "main_worker.py"), "run"],
                                                    cwd=folder, env=own, stdout=out, stderr=subprocess.STDOUT)
        wait_for(lambda: all(self.started(n) for n in self.procs), timeout=120, what="the workers to start")

    def started(self, name: str) -> bool:
        log = self.tmp_path / name / "worker.log"
        return log.is_file() and " started (source=redis" in log.read_text()

    def by_pid(self, pid: int) -> str:
        return next(n for n, p in self.procs.items() if p.pid == pid)

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def source(env: dict[str, str]) -> RedisSource:
    return RedisSource(load_settings(env, read_files=False), worker_name="test")


def wait_ended(src: RedisSource, job_id: str, timeout: float = 300.0):
    return wait_for(lambda: (lambda info: info if info and info.state.value in ("finished", "failed", "cancelled")
                             else None)(src.get(job_id)), timeout=timeout, interval=0.2, what=f"job {job_id} to end")


def worker_pid(name: str) -> int:
    """A worker's pid from its consumer name (host-pid-random, base.default_worker_name)."""
    return int(name.rsplit("-", 2)[-2])


def cache_object(cache_dir: Path, key: str) -> Path | None:
    """The cache's file for `key` (objects/ab/<key>.<sha256><ext>), found by listing the folder."""
    found = sorted((cache_dir / "objects" / key[:2]).glob(f"{key}.*"))
    return found[0] if found else None


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def frame_hashes(path: Path) -> list[str]:
    """ffmpeg's framemd5 of every decoded video and audio frame (an independent equality check)."""
    from media import ffmpeg_exe
    out = subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(path), "-f", "framemd5", "-"],
                         capture_output=True, text=True, check=True).stdout
    return [line.rsplit(",", 1)[-1].strip() for line in out.splitlines() if line and not line.startswith("#")]


def report_of(folder: Path, job_id: str) -> dict:
    return json.loads((folder / "var" / "reports" / f"{job_id}.json").read_text())


def poll(seconds: float = 0.02) -> None:
    time.sleep(seconds)
