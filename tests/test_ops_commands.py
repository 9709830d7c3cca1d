"""Commands as an operator runs them: exit codes, folders never created, ports, systemd notify."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

from daemon_helpers import ROOT, start_worker, stop, tiny_job, wait_for, worker_env
from perf_helpers import free_port

HELPER = Path(__file__).resolve().parent / "daemon_helpers.py"


def cli(tmp_path: Path, env: dict, *args: str, fake: bool = False) -> subprocess.CompletedProcess:
    script = HELPER if fake else ROOT / "main_worker.py"
    return subprocess.run([sys.executable, str(script), *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)


def submit(tmp_path: Path, env: dict, job: dict) -> None:
    file = tmp_path / f"{job['id']}.json"
    file.write_text(json.dumps(job))
    result = cli(tmp_path, env, "submit", str(file))
    assert result.returncode == 0, result.stderr


# ---------------------------------------------------------------- run --once
def test_run_once_exits_0_when_every_job_finished(tmp_path):
    env = worker_env(tmp_path)
    submit(tmp_path, env, tiny_job("fine1"))
    submit(tmp_path, env, tiny_job("fine2"))
    result = cli(tmp_path, env, "run", "--once", fake=True)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "var/spool/done").iterdir()) == ["fine1.json", "fine2.json"]


def test_run_once_exits_1_when_any_job_failed(tmp_path):
    env = worker_env(tmp_path)
    submit(tmp_path, env, tiny_job("fine"))
    submit(tmp_path, env, tiny_job("boom-asset"))
    result = cli(tmp_path, env, "run", "--once", fake=True)
    assert result.returncode == 1
    assert (tmp_path / "var/spool/done/fine.json").exists()
    assert (tmp_path / "var/spool/failed/boom-asset.json").exists()


def test_run_once_exits_1_for_an_invalid_job_dropped_into_the_spool(tmp_path):
    env = worker_env(tmp_path)
    incoming = tmp_path / "var/spool/incoming"
    incoming.mkdir(parents=True)
    (incoming / "bad.json").write_text(json.dumps({"id": "bad", "scenes": [{"duration": -1}]}))
    result = cli(tmp_path, env, "--once", fake=True)    # the top-level --once works too
    assert result.returncode == 1
    assert json.loads((tmp_path / "var/spool/failed/bad.json").read_text())["error"]["field"]


# ---------------------------------------------------------------- status
def test_status_in_the_wrong_folder_is_an_error_and_creates_nothing(tmp_path):
    env = {k: v for k, v in worker_env(tmp_path).items()
           if k not in ("SPOOL_DIR", "WORK_DIR", "CACHE_DIR")}
    result = cli(tmp_path, env, "status")
    assert result.returncode == 1
    assert str(tmp_path / "var" / "spool") in result.stderr and "SPOOL_DIR" in result.stderr
    assert "queued" not in result.stdout
    assert not (tmp_path / "var").exists()


def test_status_says_which_spool_it_read_and_top_level_json_works(tmp_path):
    env = worker_env(tmp_path)
    submit(tmp_path, env, tiny_job("waiting"))
    text = cli(tmp_path, env, "status")
    assert text.returncode == 0 and str(tmp_path / "var" / "spool") in text.stdout
    for args in (("--json", "status"), ("status", "--json")):
        result = cli(tmp_path, env, *args)
        assert result.returncode == 0, result.stderr
        info = json.loads(result.stdout)
        assert info["queued_total"] == 1 and info["spool_dir"] == str(tmp_path / "var" / "spool")


# ---------------------------------------------------------------- metrics endpoint
def test_metrics_endpoint_binds_loopback_and_serves_process_metrics(tmp_path):
    from protovideo.pipeline.runtime import Runtime
    from protovideo.runtime.settings import load_settings
    from protovideo.service.metrics_server import serve_metrics
    port = free_port()
    settings = load_settings(worker_env(tmp_path, METRICS_PORT=str(port)), read_files=False)
    assert settings.METRICS_HOST == "127.0.0.1"
    runtime = Runtime.create(settings)
    server = serve_metrics(runtime)
    try:
        assert server.host == "127.0.0.1" and server.port == port
        body = urllib.request.urlopen(f"{server.url}/metrics", timeout=10).read().decode()
    finally:
        runtime.close()
    assert "process_resident_memory_bytes" in body and "process_cpu_seconds_total" in body
    assert "protovideo_jobs_total" in body


def test_a_taken_metrics_port_stops_the_start_naming_the_setting(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        env = worker_env(tmp_path, METRICS_PORT=port)
        result = cli(tmp_path, env, "run", "--once", fake=True)
    assert result.returncode == 2
    assert "METRICS_PORT" in result.stderr and f"127.0.0.1:{port}" in result.stderr
    assert "already in use" in result.stderr and "Traceback" not in result.stderr


def test_the_port_helper_names_the_setting_it_was_given():
    import pytest
    from protovideo.runtime.ports import ensure_port_free
    from protovideo.runtime.settings import SettingsError
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        with pytest.raises(SettingsError) as caught:
            ensure_port_free("API_PORT", "127.0.0.1", taken.getsockname()[1])
    assert caught.value.name == "API_PORT"


def test_the_start_line_names_source_folders_and_providers(tmp_path):
    env = worker_env(tmp_path, REDIS_URL="redis://:pw-for-redis@127.0.0.1:1/0")
    result = cli(tmp_path, env, "run", "--once", fake=True)
    assert result.returncode == 0, result.stderr
    line = next(l for l in (tmp_path / "worker.log").read_text().splitlines() if "worker starting" in l)
    for part in (f"spool {tmp_path / 'var' / 'spool'}", f"output {tmp_path / 'var' / 'output'}",
                 f"cache {tmp_path / 'var' / 'cache'}", "tts piper", "images simple"):
        assert part in line
    assert "redis level" not in line   # REDIS_URL alone no longer turns the cache's Redis level on
    assert "pw-for-redis" not in (tmp_path / "worker.log").read_text()


# ---------------------------------------------------------------- systemd notify
def test_the_worker_tells_systemd_it_is_ready_and_pings_the_watchdog(tmp_path):
    folder = tempfile.mkdtemp(prefix="pv-notify-", dir="/tmp")   # AF_UNIX paths are short
    address = os.path.join(folder, "notify")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(address)
    listener.settimeout(60)
    env = worker_env(tmp_path, NOTIFY_SOCKET=address, WATCHDOG_USEC="400000", POLL_INTERVAL="5")
    proc = start_worker(tmp_path, env)
    messages: list[str] = []
    try:
        def received(kind: str) -> bool:
            while not any(kind in m.split("\n") for m in messages):
                messages.append(listener.recv(4096).decode())
            return True
        received("READY=1")
        ready_at = next(i for i, m in enumerate(messages) if "READY=1" in m.split("\n"))
        # POLL_INTERVAL=5 s: the pings must come from inside the idle wait, several of them
        while sum("WATCHDOG=1" in m.split("\n") for m in messages[ready_at + 1:]) < 3:
            messages.append(listener.recv(4096).decode())
    finally:
        code = stop(proc)
        listener.settimeout(5)
        try:
            while not any("STOPPING=1" in m for m in messages):
                messages.append(listener.recv(4096).decode())
        except socket.timeout:
            pass
        listener.close()
        os.unlink(address)
        os.rmdir(folder)
    assert code == 0
    assert any(m.startswith("READY=1") and "STATUS=taking jobs from spool" in m for m in messages)
    assert any("STOPPING=1" in m for m in messages)


# ---------------------------------------------------------------- duplicate submits
def _submit_twice(tmp_path: Path, env: dict, job_id: str) -> list[subprocess.CompletedProcess]:
    file = tmp_path / f"{job_id}.json"
    file.write_text(json.dumps(tiny_job(job_id)))
    return [cli(tmp_path, env, "submit", str(file)) for _ in range(2)]


def test_submitting_a_queued_id_again_returns_that_job_in_the_spool(tmp_path):
    env = worker_env(tmp_path)
    first, second = _submit_twice(tmp_path, env, "dup-spool")
    assert first.returncode == second.returncode == 0, second.stderr
    assert first.stdout.strip() == second.stdout.strip() == "dup-spool"
    assert "already queued" in second.stderr
    assert len(list((tmp_path / "var/spool/incoming").glob("*.json"))) == 1
    result = cli(tmp_path, env, "run", "--once", fake=True)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "var/renders.log").read_text().split().count("dup-spool") == 1


def test_submitting_a_queued_id_again_returns_that_job_in_redis(tmp_path, redis_url):
    import redis
    prefix = f"ops-dup-{os.getpid()}-{tmp_path.name}"
    env = worker_env(tmp_path, JOB_SOURCE="redis", REDIS_URL=redis_url, REDIS_KEY_PREFIX=prefix)
    try:
        first, second = _submit_twice(tmp_path, env, "dup-redis")
        assert first.returncode == second.returncode == 0, second.stderr
        assert first.stdout.strip() == second.stdout.strip() == "dup-redis"
        assert "already queued" in second.stderr
        info = json.loads(cli(tmp_path, env, "status", "--json").stdout)
        assert info["queued_total"] == 1
    finally:
        client = redis.Redis.from_url(redis_url)
        keys = list(client.scan_iter(match=f"{prefix}*"))
        if keys:
            client.delete(*keys)
