"""`python main_worker.py cache stats|cleanup|clear [--json]` as a user runs it."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cache import make_key, open_cache
from folders import folder_env

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def env(tmp_path):
    """The environment of a user whose folders are all inside tmp_path."""
    values = {k: v for k, v in os.environ.items() if not k.startswith(("CACHE_", "REDIS_"))}
    values.update(folder_env(tmp_path))
    return values


def cli(tmp_path, env, *args):
    return subprocess.run([sys.executable, str(ROOT / "main_worker.py"), "cache", *args],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)


def fill(make_settings, env):
    """Two entries, one hit: what a small job leaves behind."""
    cache = open_cache(make_settings(CACHE_DIR=env["CACHE_DIR"], WORK_DIR=env["WORK_DIR"]))
    for text in ("one", "two", "one"):
        cache.get_or_create(make_key("tts", text=text), ".wav", lambda tmp: tmp.write_bytes(b"w" * 4096))
    cache.close()


def test_stats_json_shows_entries_and_persisted_counts(tmp_path, env, make_settings):
    fill(make_settings, env)
    result = cli(tmp_path, env, "stats", "--json")
    assert result.returncode == 0, result.stderr
    stats = json.loads(result.stdout)
    assert stats["entries"] == 2
    assert (stats["hits"], stats["misses"], stats["hit_rate"]) == (1, 2, 0.3333)
    assert stats["by_kind"]["tts"]["hits"] == 1
    assert stats["size_mb"] == pytest.approx(8192 / 2**20, abs=1e-3)
    assert stats["dir"] == env["CACHE_DIR"] and stats["enabled"] is True


def test_stats_text_is_readable(tmp_path, env, make_settings):
    fill(make_settings, env)
    result = cli(tmp_path, env, "stats")
    assert result.returncode == 0, result.stderr
    assert "entries        2" in result.stdout and "hit rate 33.3%" in result.stdout


def test_stats_on_a_fresh_cache(tmp_path, env, make_settings):
    open_cache(make_settings(CACHE_DIR=env["CACHE_DIR"], WORK_DIR=env["WORK_DIR"])).close()
    result = cli(tmp_path, env, "stats", "--json")
    assert result.returncode == 0, result.stderr
    stats = json.loads(result.stdout)
    assert (stats["entries"], stats["hits"], stats["misses"], stats["hit_rate"]) == (0, 0, 0, 0.0)
    assert stats["dir"] == env["CACHE_DIR"]


def test_stats_in_the_wrong_folder_is_an_error_and_creates_nothing(tmp_path, env):
    wrong = {k: v for k, v in env.items() if k not in ("CACHE_DIR", "WORK_DIR", "SPOOL_DIR")}
    before = sorted(p.name for p in tmp_path.iterdir())
    for action in ("stats", "cleanup", "clear"):
        result = cli(tmp_path, wrong, action)
        assert result.returncode == 1
        assert str(tmp_path / "var" / "cache") in result.stderr and "CACHE_DIR" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == before   # no var/, no index


def test_top_level_json_flag_works(tmp_path, env, make_settings):
    fill(make_settings, env)
    result = subprocess.run([sys.executable, str(ROOT / "main_worker.py"), "--json", "cache", "stats"],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["entries"] == 2


def test_closed_pipe_ends_quietly(tmp_path, env, make_settings):
    """`cache stats --json | head -1` where head is gone before the output: no traceback."""
    fill(make_settings, env)
    read_end, write_end = os.pipe()
    os.close(read_end)   # the reader has gone away: every write gets EPIPE
    try:
        result = subprocess.run([sys.executable, str(ROOT / "main_worker.py"), "cache", "stats", "--json"],
                                cwd=tmp_path, env=env, stdout=write_end, stderr=subprocess.PIPE,
                                text=True, timeout=120)
    finally:
        os.close(write_end)
    assert "Traceback" not in result.stderr and "BrokenPipe" not in result.stderr, result.stderr
    assert result.returncode == 1
