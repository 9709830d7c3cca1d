"""The daemon with the real render pipeline: spool end to end, SIGKILL and SIGTERM mid-job.

Tiny renders (160x284, 12 fps, 1 s scenes, simple backgrounds, no narration).
"""
from __future__ import annotations

import json
import signal
import subprocess
import sys

import imageio_ffmpeg
from PIL import Image

from daemon_helpers import ROOT, read_json, start_worker, tiny_job, wait_for, worker_env
from protovideo.runtime.settings import load_settings
from protovideo.service.sources.spool import SpoolSource


def spool(env) -> SpoolSource:
    return SpoolSource(load_settings(env, read_files=False), worker_name="test")


def cli(tmp_path, env, *args):
    return subprocess.run([sys.executable, str(ROOT / "main_worker.py"), *args], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=300)


def frames_and_seconds(path):
    return imageio_ffmpeg.count_frames_and_secs(str(path))


def test_spool_end_to_end_with_a_relative_asset(tmp_path):
    env = worker_env(tmp_path)
    jobs = tmp_path / "jobs"
    jobs.mkdir()
    Image.new("RGB", (64, 64), (200, 40, 40)).save(jobs / "red.png")
    job = tiny_job("e2e", scenes=2)
    job["scenes"][0]["image"] = "red.png"          # resolves against the job file's folder
    (jobs / "e2e.json").write_text(json.dumps(job))
    submitted = cli(tmp_path, env, "submit", str(jobs / "e2e.json"))
    assert submitted.returncode == 0, submitted.stderr
    assert submitted.stdout.strip() == "e2e"
    ran = cli(tmp_path, env, "run", "--once")
    assert ran.returncode == 0, ran.stderr[-2000:]
    record = read_json(tmp_path / "var" / "spool" / "done" / "e2e.json")
    output = tmp_path / "var" / "output" / "e2e.mp4"
    assert record["output"] == str(output) and record["attempts"] == 1
    frames, seconds = frames_and_seconds(output)
    assert frames == 24 and abs(seconds - 2.0) < 0.2
    report = read_json(record["report"])
    assert report["job_id"] == "e2e"
    status = json.loads(cli(tmp_path, env, "status", "e2e", "--json").stdout)
    assert status["state"] == "finished"


def test_sigkill_mid_job_then_restart_publishes_one_complete_output(tmp_path):
    env = worker_env(tmp_path, LEASE_SECONDS="2")
    spool(env).submit(tiny_job("survivor", scenes=6))
    output = tmp_path / "var" / "output" / "survivor.mp4"
    first = start_worker(tmp_path, env, fake=False, name="first")
    wait_for(lambda: spool(env).status("survivor").get("worker"), timeout=120,
             what="the worker to start rendering the job")
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)
    assert not output.exists()            # nothing partial at the final path
    assert spool(env).status("survivor")["state"] == "started"   # its lease is still held
    second = start_worker(tmp_path, env, "--once", fake=False, name="second")
    assert second.wait(timeout=300) == 0
    record = read_json(tmp_path / "var" / "spool" / "done" / "survivor.json")
    assert record["attempts"] == 2
    assert sorted(p.name for p in output.parent.iterdir()) == ["survivor.jpg", "survivor.manifest.json", "survivor.mp4"]  # + poster, manifest
    frames, _seconds = frames_and_seconds(output)
    assert frames == 72
    assert not list((tmp_path / "var" / "spool" / "processing").iterdir())


def test_sigterm_mid_job_exits_0_and_the_job_is_not_lost(tmp_path):
    env = worker_env(tmp_path, SHUTDOWN_GRACE="20")
    spool(env).submit(tiny_job("graceful", scenes=4))
    worker = start_worker(tmp_path, env, fake=False, name="graceful")
    wait_for(lambda: spool(env).status("graceful")["state"] == "started", timeout=120,
             what="the job to start")
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=20 + 30) == 0
    state = spool(env).status("graceful")["state"]
    assert state in ("finished", "queued")        # finished within the grace, or handed back
    if state == "queued":
        assert cli(tmp_path, env, "run", "--once").returncode == 0
    record = read_json(tmp_path / "var" / "spool" / "done" / "graceful.json")
    assert record["status"] == "done"
    assert frames_and_seconds(tmp_path / "var" / "output" / "graceful.mp4")[0] == 48
