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


def test_stats_on_an_empty_folder(tmp_path, env):
    result = cli(tmp_path, env, "stats", "--json")
    assert result.returncode == 0, result.stderr
    stats = json.loads(result.stdout)
    assert (stats["entries"], stats["hits"], stats["misses"], stats["hit_rate"]) == (0, 0, 0, 0.0)


def test_cleanup_removes_expired_entries(tmp_path, env, make_settings, monkeypatch):
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() - 48 * 3600)  # made two days ago
    fill(make_settings, env)
    monkeypatch.setattr(time, "time", real)
    cache = open_cache(make_settings(CACHE_DIR=env["CACHE_DIR"]))
    cache.get_or_create(make_key("image", prompt="new"), ".png", lambda tmp: tmp.write_bytes(b"p" * 10))
    cache.close()
    result = cli(tmp_path, {**env, "CACHE_MAX_AGE": "24"}, "cleanup", "--json")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["removed"] == 2 and out["entries"] == 1
    stats = json.loads(cli(tmp_path, env, "stats", "--json").stdout)
    assert stats["entries"] == 1 and stats["expired"] == 2


def test_clear_empties_the_folder(tmp_path, env, make_settings):
    fill(make_settings, env)
    result = cli(tmp_path, env, "clear")
    assert result.returncode == 0, result.stderr
    assert "removed 2" in result.stdout
    objects = Path(env["CACHE_DIR"]) / "objects"
    assert [p for p in objects.rglob("*") if p.is_file()] == []
    assert json.loads(cli(tmp_path, env, "stats", "--json").stdout)["entries"] == 0


def test_disabled_cache_still_reports_and_clears_its_folder(tmp_path, env, make_settings):
    fill(make_settings, env)
    disabled = {**env, "CACHE_ENABLED": "false"}
    stats = json.loads(cli(tmp_path, disabled, "stats", "--json").stdout)
    assert stats["enabled"] is False and stats["entries"] == 2
    assert cli(tmp_path, disabled, "clear").returncode == 0
    assert json.loads(cli(tmp_path, env, "stats", "--json").stdout)["entries"] == 0


def test_bad_setting_is_named(tmp_path, env):
    result = cli(tmp_path, {**env, "CACHE_MAX_SIZE_MB": "lots"}, "stats")
    assert result.returncode == 2
    assert "CACHE_MAX_SIZE_MB" in result.stderr
