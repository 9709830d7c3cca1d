"""HTTP job API source against a local job server on 127.0.0.1 (daemon_helpers.JobApi)."""
from __future__ import annotations

import json
import socket
import subprocess
import sys

import pytest

from daemon_helpers import ROOT, JobApi, fake_make_context, fake_render, ledger, tiny_job, wait_for, worker_env
from protovideo.service.middleware.retries import Retries
from protovideo.service.sources.http_api import ApiError, HttpSource
from protovideo.service.middleware.time_limit import TimeLimit
from protovideo.service.worker import Worker


@pytest.fixture
def api():
    server = JobApi(token="s3cret")
    yield server
    server.close()


@pytest.fixture
def http_settings(make_settings, api):
    def factory(**overrides):
        values = {"JOB_SOURCE": "http", "JOB_API_URL": api.url, "JOB_API_TOKEN": "s3cret",
                  "POLL_INTERVAL": 0.05, "LEASE_SECONDS": 30, "RETRY_BACKOFF": 0.05}
        values.update(overrides)
        return make_settings(**values)
    return factory


def run_worker(settings):
    worker = Worker(settings, HttpSource(settings), render=fake_render,
                    make_context=fake_make_context, once=True,
                    middleware=[Retries(settings.MAX_ATTEMPTS, min_backoff=settings.RETRY_BACKOFF),
                                TimeLimit(settings.JOB_TIMEOUT)])
    assert worker.run(install_signals=False) == 0
    return worker


def test_worker_takes_jobs_from_the_api_by_priority_and_reports_results(api, http_settings,
                                                                       tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_SCENE_SECONDS", "0.4")
    for n, priority in enumerate(["low", "high", "normal", "critical"]):
        api.add(tiny_job(f"h{n}-{priority}", scenes=3, priority=priority))
    run_worker(http_settings())
    assert [n.split("-")[1] for n in ledger(tmp_path)] == ["critical", "high", "normal", "low"]
    for job_id, job in api.jobs.items():
        assert job["state"] == "finished"
        assert job["record"]["id"] == job_id and job["record"]["status"] == "done"
        assert job["record"]["output"].endswith(f"{job_id}.mp4")
    # progress reached the API while jobs ran
    beats = [body["progress"] for method, path, body, _port in api.calls if path.endswith("/heartbeat")]
    assert {"done": 2, "total": 3, "what": "scene 1"} in beats
    # one pooled keep-alive connection served the sequential requests
    ports = {port for _m, _p, _b, port in api.calls}
    assert len(ports) <= 2


def test_failures_are_reported_with_retry_or_final_record(api, http_settings):
    bad = tiny_job("bad")
    bad["scenes"][0]["duration"] = "long"
    api.add(bad)
    api.add(tiny_job("transient-1"))
    run_worker(http_settings(MAX_ATTEMPTS=2))
    assert api.jobs["bad"]["state"] == "failed"
    assert api.jobs["bad"]["record"]["error"]["field"] == "scenes[0].duration"
    assert api.jobs["bad"]["attempts"] == 1
    fails = [body for _m, path, body, _p in api.calls if path == "/api/jobs/transient-1/fail"]
    assert [f["retry"] for f in fails] == [True, False]
    assert fails[0]["retry_in"] > 0
    record = api.jobs["transient-1"]["record"]
    assert record["attempts"] == 2 and record["error"]["type"] == "TransientError"


def test_a_wrong_token_is_a_clear_error(api, http_settings):
    api.add(tiny_job("guarded"))
    source = HttpSource(http_settings(JOB_API_TOKEN="wrong"))
    with pytest.raises(ApiError, match="JOB_API_TOKEN"):
        source.claim()
    assert api.jobs["guarded"]["state"] == "queued"


def test_backs_off_while_the_api_is_down_then_recovers(make_settings, tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = make_settings(JOB_SOURCE="http", JOB_API_URL=f"http://127.0.0.1:{port}/api",
                             JOB_API_TOKEN="t")
    source = HttpSource(settings)
    assert source.claim() is None            # connection refused: no exception, backing off
    assert source._down_until > 0
    server = JobApi(token="t", port=port)
    try:
        server.add(tiny_job("late"))
        claimed = wait_for(source.claim, timeout=30, interval=0.1, what="the API to come back")
        assert claimed.id == "late" and claimed.attempts == 1
        source.complete(claimed, {"id": "late", "status": "done"})
        assert server.jobs["late"]["state"] == "finished"
    finally:
        server.close()


def test_lost_lease_is_detected_by_the_heartbeat(api, http_settings):
    api.add(tiny_job("taken"))
    source = HttpSource(http_settings())
    claimed = source.claim()
    api.jobs["taken"]["worker"] = "someone-else"
    with pytest.raises(Exception, match="lease"):
        source.heartbeat(claimed)


def test_submit_and_status_through_the_command_line(api, tmp_path):
    env = worker_env(tmp_path, JOB_SOURCE="http", JOB_API_URL=api.url, JOB_API_TOKEN="s3cret")
    job_file = tmp_path / "job.json"
    job_file.write_text(json.dumps(tiny_job("via-cli")))

    def cli(*args):
        return subprocess.run([sys.executable, str(ROOT / "main_worker.py"), *args], cwd=tmp_path,
                              env=env, capture_output=True, text=True, timeout=120)

    submitted = cli("submit", str(job_file), "--priority", "critical")
    assert submitted.returncode == 0, submitted.stderr
    assert submitted.stdout.strip() == "via-cli"
    assert api.jobs["via-cli"]["priority"] == "critical"
    assert json.loads(cli("status", "--json").stdout)["queued"]["critical"] == 1
    assert json.loads(cli("status", "via-cli", "--json").stdout)["state"] == "queued"
    assert cli("status", "missing").returncode == 1
