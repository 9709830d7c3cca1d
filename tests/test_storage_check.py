"""The start check of OUTPUT_STORE and CACHE_STORE against a real S3 server (radosgw): a store it
cannot reach, a bucket that is not there and credentials the store refuses stop the start with a
message naming the setting to fix, and never showing the secret (in the message or the log)."""
from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from folders import folder_env
from protovideo.runtime import secrets
from protovideo.runtime.logs import setup_logging, teardown_logging
from storage import StoreUnusable, check_store

WRONG_SECRET = "wrong-secret-Zq81xT3vLk0pQm"


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_working_store_passes(s3_env, make_settings):
    check_store(make_settings(OUTPUT_STORE="s3://outputs/check", CACHE_STORE="s3://cache/check"))


def test_a_wrong_secret_names_the_setting_and_shows_no_secret(s3_env, make_settings, monkeypatch, caplog):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", WRONG_SECRET)
    settings = make_settings(OUTPUT_STORE="s3://outputs/check")
    with caplog.at_level(logging.DEBUG):                  # botocore's own debug lines too
        with pytest.raises(StoreUnusable) as refused:
            check_store(settings)
        logging.getLogger("protovideo").error("start failed: %s", refused.value)
    message = str(refused.value)
    assert refused.value.name == "AWS_SECRET_ACCESS_KEY"
    assert message.startswith("setting AWS_SECRET_ACCESS_KEY:") and "OUTPUT_STORE=s3://outputs/check" in message
    assert WRONG_SECRET not in message and WRONG_SECRET not in caplog.text
    assert s3_env["AWS_SECRET_ACCESS_KEY"] not in message + caplog.text


def test_the_worker_log_hides_the_secret_even_when_something_prints_it(s3_env, make_settings, monkeypatch,
                                                                      tmp_path, capsys):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", WRONG_SECRET)
    settings = make_settings(OUTPUT_STORE="s3://outputs/check", LOG_FILE=str(tmp_path / "worker.log"))
    assert WRONG_SECRET in secrets.secret_values({"AWS_SECRET_ACCESS_KEY": WRONG_SECRET})
    secrets.register_from_settings(settings)               # what load_settings does with os.environ
    setup_logging(settings)
    try:
        logging.getLogger("protovideo").error("a careless line: %s", WRONG_SECRET)
    finally:
        teardown_logging()
    assert WRONG_SECRET not in (tmp_path / "worker.log").read_text()
    assert WRONG_SECRET not in capsys.readouterr().err


def test_an_unknown_access_key_names_it(s3_env, make_settings, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "PVNOSUCHKEY000000000")
    with pytest.raises(StoreUnusable) as refused:
        check_store(make_settings(CACHE_STORE="s3://cache/check"))
    assert refused.value.name == "AWS_ACCESS_KEY_ID" and "CACHE_STORE" in str(refused.value)
    assert s3_env["AWS_SECRET_ACCESS_KEY"] not in str(refused.value)


def test_a_missing_bucket_names_the_store_setting(s3_env, make_settings):
    with pytest.raises(StoreUnusable) as refused:
        check_store(make_settings(OUTPUT_STORE="s3://no-such-bucket/x"))
    assert refused.value.name == "OUTPUT_STORE" and "no-such-bucket" in str(refused.value)


def test_an_unreachable_endpoint_names_the_endpoint_setting(s3_env, make_settings, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", f"http://127.0.0.1:{closed_port()}")
    with pytest.raises(StoreUnusable) as refused:
        check_store(make_settings(OUTPUT_STORE="s3://outputs/check"))
    assert refused.value.name == "AWS_ENDPOINT_URL_S3" and "cannot reach" in str(refused.value)


def test_no_credentials_at_all_names_them(s3_env, make_settings, monkeypatch):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with pytest.raises(StoreUnusable) as refused:
        check_store(make_settings(OUTPUT_STORE="s3://outputs/check"))
    assert refused.value.name == "AWS_ACCESS_KEY_ID" and "no AWS credentials" in str(refused.value)


def test_a_cache_store_inside_the_output_store_is_refused(make_settings):
    with pytest.raises(StoreUnusable) as refused:
        check_store(make_settings(OUTPUT_STORE="s3://videos/out", CACHE_STORE="s3://videos/out/cache"))
    assert refused.value.name == "CACHE_STORE"
    check_store(make_settings())                           # nothing set: nothing to check, no client


def test_the_worker_does_not_start_with_refused_credentials(s3_env, tmp_path):
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, **folder_env(tmp_path), "OUTPUT_STORE": "s3://outputs/start",
           "AWS_SECRET_ACCESS_KEY": WRONG_SECRET}
    done = subprocess.run([sys.executable, str(root / "main_worker.py"), "run", "--once"], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "setting AWS_SECRET_ACCESS_KEY:" in done.stderr and "OUTPUT_STORE" in done.stderr
    log = tmp_path / "worker.log"
    everything = done.stdout + done.stderr + (log.read_text() if log.exists() else "")
    assert WRONG_SECRET not in everything
    assert not (tmp_path / "var" / "spool").exists()        # stopped before taking any job
