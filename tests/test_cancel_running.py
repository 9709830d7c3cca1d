"""Cancelling a job a real worker process is rendering (the real pipeline, `cancel JOB_ID`):
it stops, publishes nothing, is recorded cancelled and never retried, and the worker goes on."""
from __future__ import annotations

import json
import subprocess
import sys
import time

from daemon_helpers import ROOT, start_worker, stop, tiny_job, wait_for, worker_env
from jobmodel.states import JobState
from protovideo.runtime.settings import load_settings
from protovideo.service.sources.spool import SpoolSource


def test_cancel_stops_a_real_render_and_the_worker_renders_the_next_job(tmp_path):
    env = worker_env(tmp_path, LEASE_SECONDS="30", MAX_WORKERS="1")
    source = SpoolSource(load_settings(env, read_files=False), worker_name="test")
    long_job = tiny_job("long", scenes=40)          # 40 s of video: far from done when cancelled
    long_job["video"].update(width=270, height=480, fps=12)
    source.submit(long_job, priority="critical")
    source.submit(tiny_job("after"))
    proc = start_worker(tmp_path, env, fake=False)
    try:
        wait_for(lambda: source.get("long").state == JobState.STARTED
                 and source.get("long").progress["done"] >= 1, timeout=240,
                 what="the long render to be under way")
        asked = time.monotonic()
        answer = subprocess.run([sys.executable, str(ROOT / "main_worker.py"), "cancel", "long"],
                                cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
        assert answer.returncode == 0 and "cancel requested" in answer.stdout, answer.stderr
        wait_for(lambda: source.get("long").state == JobState.CANCELLED, timeout=60,
                 what="the worker to stop the cancelled render")
        stopped_after = time.monotonic() - asked
        wait_for(lambda: source.get("after").state == JobState.FINISHED, timeout=240,
                 what="the next job to be rendered")
    finally:
        assert stop(proc) == 0
    print(f"cancelled render stopped {stopped_after:.2f} s after the request")
    record = json.loads((tmp_path / "var/spool/cancelled/long.json").read_text())
    assert record["status"] == "cancelled" and record["was"] == "started" and record["attempts"] == 1
    outputs = sorted(p.name for p in (tmp_path / "var/output").iterdir())
    assert "after.mp4" in outputs and "after.jpg" in outputs
    assert not [n for n in outputs if n.startswith("long")]          # nothing published
    assert not (tmp_path / "var/spool/failed/long.json").exists()    # not a failure, not retried
    assert not list((tmp_path / "var/spool/incoming").iterdir())
    log = (tmp_path / "worker.log").read_text()
    assert "job long cancelled while running" in log
