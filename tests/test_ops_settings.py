"""Settings that catch an operator's mistakes and keep secrets out of everything the worker writes."""
from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from daemon_helpers import ROOT, read_json, tiny_job, worker_env
from jobmodel.errors import JobInvalid
from jobmodel.refs import parse_asset_ref
from protovideo.runtime import secrets
from protovideo.runtime.settings import SettingsError, load_settings

KEY = "sk-secret-4f9a1c77d2e84b0b9e3a"


def main_worker(tmp_path: Path, env: dict, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "main_worker.py"), *args], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=timeout)


# ---------------------------------------------------------------- names in settings files
def test_a_typo_in_config_env_stops_the_start_naming_it_and_the_real_setting(tmp_path):
    (tmp_path / "config.env").write_text("MAX_WORKER=8\n")
    result = main_worker(tmp_path, worker_env(tmp_path), "status")
    assert result.returncode == 2
    assert "MAX_WORKER:" in result.stderr and "did you mean MAX_WORKERS" in result.stderr
    assert "config.env" in result.stderr


def test_a_typo_in_dot_env_is_refused_too(tmp_path):
    (tmp_path / ".env").write_text("CACHE_MAX_SIZE=100\n")
    with pytest.raises(SettingsError) as caught:
        load_settings({}, cwd=tmp_path)
    assert caught.value.name == "CACHE_MAX_SIZE" and "CACHE_MAX_SIZE_MB" in str(caught.value)


def test_other_programs_variables_are_let_through(tmp_path):
    (tmp_path / "config.env").write_text("HF_HUB_OFFLINE=1\nCUDA_VISIBLE_DEVICES=0\nOMP_NUM_THREADS=2\n"
                                         "MAX_WORKERS=3\n")
    assert load_settings({}, cwd=tmp_path).MAX_WORKERS == 3


# ---------------------------------------------------------------- secrets
def test_repr_of_settings_hides_keys_tokens_and_url_passwords(make_settings):
    settings = make_settings(OPENAI_API_KEY=KEY, JOB_API_TOKEN="tok-abcdef123456",
                             REDIS_URL="redis://:hunter2pw@redis.example:6379/0")
    text = repr(settings) + str(settings)
    assert KEY not in text and "tok-abcdef123456" not in text and "hunter2pw" not in text
    assert "OPENAI_API_KEY='***'" in text and "redis.example:6379" in text


def test_log_records_are_redacted_on_every_handler(tmp_path, make_settings):
    from protovideo.runtime.logs import setup_logging, teardown_logging
    settings = make_settings(OPENAI_API_KEY=KEY, LOG_FORMAT="json",
                             REDIS_URL="redis://user:p%40ss-word-77@localhost/0")
    setup_logging(settings, console=False)
    try:
        log = logging.getLogger("protovideo.test.secrets")
        log.warning("calling with key %s", KEY)
        try:
            raise RuntimeError(f"server said: bad key {KEY} for redis p@ss-word-77")
        except RuntimeError:
            log.exception("provider failed", extra={"detail": {"key": KEY}})
    finally:
        teardown_logging()
    text = settings.path("LOG_FILE").read_text()
    assert "calling with key ***" in text and "RuntimeError" in text
    assert KEY not in text and "p@ss-word-77" not in text and "p%40ss-word-77" not in text


def test_scrub_redacts_nested_records(make_settings):
    make_settings(OPENAI_API_KEY=KEY)   # loading settings registers the key
    record = {"error": {"message": f"401 {KEY}"}, "job": {"scenes": [{"text": f"say {KEY}"}]}}
    assert KEY not in json.dumps(secrets.scrub(record))


class RefusingImagesAPI:
    """An images API that refuses every key, echoing it back in the error (as real ones half do)."""

    def __init__(self, status: int):
        api = self
        self.seen_auth: list[str] = []

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                auth = self.headers.get("Authorization", "")
                api.seen_auth.append(auth)
                body = json.dumps({"error": {"message": f"Incorrect API key provided: {auth[7:]}"}}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Retry-After", "0")
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.parametrize("status", [401, 500])
def test_an_api_key_never_reaches_the_log_the_record_or_the_report(tmp_path, status):
    api = RefusingImagesAPI(status)
    try:
        env = worker_env(tmp_path, OPENAI_API_KEY=KEY, OPENAI_BASE_URL=api.url, MAX_ATTEMPTS=1,
                         LOG_LEVEL="debug")
        job = tiny_job(f"secret{status}", image={"provider": "openai", "width": 64, "height": 64})
        job["scenes"][0]["image_prompt"] = "a red barn"
        (tmp_path / "job.json").write_text(json.dumps(job))
        assert main_worker(tmp_path, env, "submit", "job.json").returncode == 0
        result = main_worker(tmp_path, env, "run", "--once")
        status_out = main_worker(tmp_path, env, "status", f"secret{status}", "--json")
        rendered = main_worker(tmp_path, env, "render", "job.json", "--quiet")   # in-process too
    finally:
        api.close()
    assert api.seen_auth and api.seen_auth[0] == f"Bearer {KEY}"   # the key was really used
    assert result.returncode == 1                                   # and the job failed on it
    record = read_json(tmp_path / "var" / "spool" / "failed" / f"secret{status}.json")
    assert record["status"] == "failed" and "***" in record["error"]["message"]
    assert rendered.returncode == 1 and "***" in rendered.stderr
    written = [result.stdout, result.stderr, status_out.stdout, status_out.stderr,
               rendered.stdout, rendered.stderr, (tmp_path / "worker.log").read_text()]
    written += [p.read_text() for p in (tmp_path / "var").rglob("*.json")]
    assert all(KEY not in text for text in written)
    assert "***" in (tmp_path / "worker.log").read_text()


# ---------------------------------------------------------------- LOG_FILE=
def test_empty_log_file_logs_to_stderr_only(tmp_path):
    env = worker_env(tmp_path, LOG_FILE="")
    (tmp_path / "job.json").write_text(json.dumps(tiny_job("stderronly")))
    result = main_worker(tmp_path, env, "render", "job.json", "--quiet")
    assert result.returncode == 0, result.stderr
    assert "PERF job=stderronly total=" in result.stderr
    assert not list(tmp_path.glob("*.log")) and not (tmp_path / "worker.log").exists()


# ---------------------------------------------------------------- file:// hosts
def test_file_url_with_a_foreign_host_is_refused(tmp_path):
    picture = tmp_path / "a.png"
    picture.write_bytes(b"x")
    with pytest.raises(JobInvalid) as caught:
        parse_asset_ref(f"file://fileserver{picture}", "scenes[0].image", "image", [tmp_path])
    assert caught.value.field == "scenes[0].image" and "fileserver" in str(caught.value)
    for local in (f"file://{picture}", f"file://localhost{picture}"):
        assert parse_asset_ref(local, "scenes[0].image", "image", [tmp_path]).path == picture.resolve()


def test_a_log_file_that_cannot_be_written_stops_the_start_naming_log_file(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the log folder should be")
    env = worker_env(tmp_path, LOG_FILE=str(blocker / "worker.log"))
    result = main_worker(tmp_path, env, "run", "--once")
    assert result.returncode == 2
    assert "LOG_FILE" in result.stderr and "Traceback" not in result.stderr


def test_redis_url_alone_leaves_the_cache_on_disk_cache_redis_turns_the_level_on(make_settings):
    from cache import open_cache
    only_source = open_cache(make_settings(JOB_SOURCE="redis", REDIS_URL="redis://127.0.0.1:1/0"))
    assert only_source.redis is None and only_source.stats()["levels"] == ["memory", "disk"]
    shared = open_cache(make_settings(REDIS_URL="redis://127.0.0.1:1/0", CACHE_REDIS="on"))
    assert shared.redis is not None
    with pytest.raises(SettingsError) as caught:
        make_settings(CACHE_REDIS="on")
    assert caught.value.name == "CACHE_REDIS"
