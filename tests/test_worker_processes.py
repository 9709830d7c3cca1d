"""Worker processes on one spool (main_worker.py run, fake render): concurrency and signals."""
from __future__ import annotations

import collections
import json
import signal

from daemon_helpers import (ledger, read_json, start_worker, stop, tiny_job, wait_for,
                            worker_env)
from protovideo.runtime.settings import load_settings
from protovideo.service.sources.spool import SpoolSource


def spool(env) -> SpoolSource:
    return SpoolSource(load_settings(env, read_files=False), worker_name="test")


def done_ids(env) -> list[str]:
    folder = spool(env).dirs["done"]
    return sorted(p.stem for p in folder.glob("*.json"))


def test_two_worker_processes_finish_30_jobs_exactly_once(tmp_path):
    env = worker_env(tmp_path, FAKE_SCENE_SECONDS="0.05", LEASE_SECONDS="10")
    workers = [start_worker(tmp_path, env, name=f"w{n}") for n in range(2)]
    try:
        wait_for(lambda: (tmp_path / "worker.log").exists() and
                 (tmp_path / "worker.log").read_text().count(" started (source=spool") == 2,
                 what="both workers to start")
        source = spool(env)
        ids = [f"job{n:02d}" for n in range(30)]
        for job_id in ids:
            source.submit(tiny_job(job_id, scenes=2))
        wait_for(lambda: len(done_ids(env)) == 30, what="30 done records")
    finally:
        codes = [stop(w) for w in workers]
    assert codes == [0, 0]
    assert done_ids(env) == ids
    assert collections.Counter(ledger(tmp_path)) == {job_id: 1 for job_id in ids}
    outputs = sorted(p.name for p in (tmp_path / "var" / "output").iterdir())
    assert outputs == [f"{job_id}.mp4" for job_id in ids]
    by_worker = collections.Counter(read_json(spool(env).dirs["done"] / f"{i}.json")["worker"]
                                    for i in ids)
    assert len(by_worker) == 2, by_worker   # both processes took jobs
    assert spool(env).is_drained()


def test_run_once_drains_the_queue_and_exits_0(tmp_path):
    env = worker_env(tmp_path)
    source = spool(env)
    for n in range(3):
        source.submit(tiny_job(f"once{n}"))
    proc = start_worker(tmp_path, env, "--once")
    assert proc.wait(timeout=120) == 0
    assert done_ids(env) == ["once0", "once1", "once2"]


def test_sigterm_lets_the_job_in_progress_finish_within_the_grace(tmp_path):
    env = worker_env(tmp_path, FAKE_SCENE_SECONDS="0.5", SHUTDOWN_GRACE="60")
    spool(env).submit(tiny_job("finishes", scenes=4))
    spool(env).submit(tiny_job("stays-queued"))
    proc = start_worker(tmp_path, env)
    wait_for(lambda: spool(env).status("finishes")["state"] == "started", what="the job to start")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 0
    assert done_ids(env) == ["finishes"]
    assert spool(env).status("stays-queued")["state"] == "queued"   # not taken after the signal


def test_sigterm_hands_the_job_back_when_the_grace_runs_out(tmp_path):
    env = worker_env(tmp_path, FAKE_SCENE_SECONDS="30", SHUTDOWN_GRACE="1")
    spool(env).submit(tiny_job("long", scenes=4))
    proc = start_worker(tmp_path, env)
    wait_for(lambda: spool(env).status("long")["state"] == "started", what="the job to start")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
    status = spool(env).status("long")
    assert status["state"] == "queued" and status["attempts"] == 0   # handed back, not counted
    assert ledger(tmp_path) == []


def test_a_second_signal_hands_the_job_back_at_once(tmp_path):
    env = worker_env(tmp_path, FAKE_SCENE_SECONDS="30", SHUTDOWN_GRACE="600")
    spool(env).submit(tiny_job("interrupted", scenes=2))
    proc = start_worker(tmp_path, env)
    wait_for(lambda: spool(env).status("interrupted")["state"] == "started",
             what="the job to start")
    proc.send_signal(signal.SIGTERM)
    wait_for(lambda: "stop signal" in (tmp_path / "worker.log").read_text(), what="first signal")
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=30) == 0
    assert spool(env).status("interrupted")["state"] == "queued"
    log = (tmp_path / "worker.log").read_text()
    assert "handed back" in log


def test_submit_and_status_commands(tmp_path):
    import subprocess
    import sys
    from daemon_helpers import ROOT
    env = worker_env(tmp_path)
    job_file = tmp_path / "jobs" / "mine.json"
    job_file.parent.mkdir()
    job_file.write_text(json.dumps(tiny_job("mine")))

    def cli(*args):
        return subprocess.run([sys.executable, str(ROOT / "main_worker.py"), *args], cwd=tmp_path,
                              env=env, capture_output=True, text=True, timeout=120)

    submitted = cli("submit", str(job_file), "--priority", "high")
    assert submitted.returncode == 0, submitted.stderr
    assert submitted.stdout.strip() == "mine"
    depths = json.loads(cli("status", "--json").stdout)
    assert depths["queued"]["high"] == 1 and depths["queued_total"] == 1
    assert "queued: 1 (critical 0, high 1, normal 0, low 0)" in cli("status").stdout
    one = json.loads(cli("status", "mine", "--json").stdout)
    assert one["state"] == "queued" and one["priority"] == "high"
    assert cli("status", "nosuchjob").returncode == 1
    # the folder of the job file is recorded so relative assets resolve against it
    claimed = spool(env).claim()
    assert claimed.base_dir == job_file.parent.resolve()

    bad = tmp_path / "jobs" / "bad.json"
    bad.write_text(json.dumps({"scenes": [{"duration": -1}]}))
    refused = cli("submit", str(bad))
    assert refused.returncode == 2
    assert "scenes[0].duration" in refused.stderr
    assert spool(env).status()["queued_total"] == 0
