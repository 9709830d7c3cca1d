"""Shared fixtures: settings in a temporary folder, a real Redis server, media probes."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from folders import folder_env  # noqa: E402
from generators.plugins import load_all  # noqa: E402
from protovideo.runtime.settings import load_settings  # noqa: E402

load_all()   # as the entry points do: the job model's names come from the plug-in registries


def pytest_configure(config):
    config.addinivalue_line("markers", "stand_in(text): the chatterbox.tts stand-in module's text "
                            "(tests/test_chatterbox_tts.py)")


@pytest.fixture
def make_settings(tmp_path):
    """Settings with every folder inside tmp_path; keyword overrides by setting name."""
    def factory(**overrides):
        env = {**folder_env(tmp_path), "MAX_WORKERS": "2"}
        env.update({k: str(v) for k, v in overrides.items()})
        return load_settings(env, cwd=tmp_path, read_files=False)
    return factory


def _port_open(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.3)
        return sock.connect_ex((host, port)) == 0


@pytest.fixture(scope="session")
def redis_url():
    """A real Redis server: the machine's on 127.0.0.1:6379, else one started here."""
    if _port_open("127.0.0.1", 6379):
        yield "redis://127.0.0.1:6379/15"
        return
    binary = shutil.which("redis-server")
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("redis-server is not installed; .ci/run must install it")
        pytest.skip("no Redis server and no redis-server binary")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no"], stdout=subprocess.DEVNULL)
    for _ in range(100):
        if _port_open("127.0.0.1", port):
            break
        time.sleep(0.05)
    yield f"redis://127.0.0.1:{port}/15"
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    """A real S3 server (Ceph radosgw, scripts/s3_server.sh) with buckets `outputs` and `cache`,
    one for the whole session; every daemon is stopped at the end."""
    from s3_server import S3Server, in_ci, missing_tools
    missing = missing_tools()
    if missing:
        if in_ci():
            pytest.fail(f"{', '.join(missing)} not installed; .ci/run must install radosgw ceph-mon ceph-osd")
        pytest.skip(f"no S3 test server: {', '.join(missing)} not installed "
                    "(apt-get install radosgw ceph-mon ceph-osd)")
    server = S3Server.start(tmp_path_factory.mktemp("s3") / "cluster", ("outputs", "cache"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def s3_env(s3_server, monkeypatch):
    """The AWS_* settings of the test server in this test's environment (what boto3 reads)."""
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    for name, value in s3_server.env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    return dict(s3_server.env)
