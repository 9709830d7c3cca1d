"""Artifact cache: keys, hits and misses, TTL, eviction, invalidation, damage, stats, CACHE_ENABLED."""
from __future__ import annotations

import hashlib
import os
import threading
import time
from pathlib import Path

import pytest

from cache import ArtifactCache, make_key, open_cache
from cache.keys import file_md5


class Clock:
    """A controllable time.time() so lifetimes are tested without sleeping."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(monkeypatch):
    fake = Clock()
    monkeypatch.setattr(time, "time", fake)
    return fake


class Producer:
    """produce(tmp) that writes known bytes and counts its calls."""

    def __init__(self, data: bytes = b"RIFF-audio" * 100):
        self.data = data
        self.calls = 0

    def __call__(self, tmp: Path) -> None:
        self.calls += 1
        tmp.write_bytes(self.data)


def new_cache(tmp_path, **kw) -> ArtifactCache:
    kw.setdefault("protect_recent_s", 0)
    kw.setdefault("max_age_hours", 168)
    return ArtifactCache(tmp_path / "cache", scratch=tmp_path / "work" / "uncached", **kw)


# -- keys -----------------------------------------------------------------

def test_key_changes_with_every_part_and_not_with_order():
    base = dict(provider="piper", model="joe", voice="a", text="hello", seed=1, size=[160, 284])
    key = make_key("tts", **base)
    assert len(key) == 32 and int(key, 16) >= 0
    assert key.kind == "tts"
    assert make_key("tts", **dict(reversed(list(base.items())))) == key
    for name, other in [("provider", "chatterbox"), ("model", "x"), ("voice", "b"),
                        ("text", "hello!"), ("seed", 2), ("size", [284, 160])]:
        assert make_key("tts", **{**base, name: other}) != key, name
    assert make_key("image", **base) != key


def test_file_md5_matches_hashlib(tmp_path):
    file = tmp_path / "x.bin"
    file.write_bytes(os.urandom(3 << 20))
    assert file_md5(file) == hashlib.md5(file.read_bytes()).hexdigest()


# -- basic hits and misses --------------------------------------------------

def test_second_call_is_a_hit_and_file_is_complete(make_settings):
    cache = open_cache(make_settings())
    produce = Producer()
    key = make_key("tts", text="hello")
    first = cache.get_or_create(key, ".wav", produce)
    second = cache.get_or_create(key, ".wav", produce)
    assert first == second and first.read_bytes() == produce.data
    assert produce.calls == 1
    stats = cache.stats()
    assert (stats["hits"], stats["misses"], stats["hit_rate"]) == (1, 1, 0.5)
    assert stats["by_kind"]["tts"] == {"hits": 1, "misses": 1, "hit_rate": 0.5}
    assert stats["entries"] == 1


def test_failed_producer_leaves_nothing_and_next_call_produces(tmp_path):
    cache = new_cache(tmp_path)
    key = make_key("image", prompt="cat")

    def broken(tmp: Path) -> None:
        tmp.write_bytes(b"half")
        raise RuntimeError("model crashed")

    with pytest.raises(RuntimeError, match="model crashed"):
        cache.get_or_create(key, ".png", broken)
    assert not cache.contains(key, ".png")
    assert [p for p in (tmp_path / "cache" / "objects").rglob("*") if p.is_file()] == []
    produce = Producer(b"PNG" * 50)
    assert cache.get_or_create(key, ".png", produce).read_bytes() == produce.data


def test_empty_output_is_an_error_not_an_entry(tmp_path):
    cache = new_cache(tmp_path)
    key = make_key("image", prompt="empty")
    with pytest.raises(RuntimeError, match="empty file"):
        cache.get_or_create(key, ".png", lambda tmp: None)
    assert cache.stats()["entries"] == 0


def test_threads_make_one_key_once(tmp_path):
    cache = new_cache(tmp_path)
    key = make_key("tts", text="shared")
    calls = []
    together = threading.Barrier(6)   # all six ask at once; whoever comes second waits or hits

    def produce(tmp: Path) -> None:
        calls.append(1)
        tmp.write_bytes(b"A" * 5000)

    def ask() -> None:
        together.wait(timeout=60)
        results.append(cache.get_or_create(key, ".wav", produce))

    results: list[Path] = []
    threads = [threading.Thread(target=ask) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1
    assert len(set(results)) == 1 and results[0].read_bytes() == b"A" * 5000
    assert cache.stats()["hits"] == 5


def test_bad_key_or_extension_is_refused(tmp_path):
    cache = new_cache(tmp_path)
    with pytest.raises(ValueError, match="cache key"):
        cache.get_or_create("../escape", ".wav", Producer())
    with pytest.raises(ValueError, match="extension"):
        cache.get_or_create(make_key("tts", text="x"), "/../x", Producer())


def test_meta_round_trip_and_survives_restart(tmp_path):
    cache = new_cache(tmp_path)
    key = make_key("tts", text="spans")
    cache.put_meta(key, {"sentences": [["Hi.", 0.0, 0.4]]})
    assert cache.get_meta(key) == {"sentences": [["Hi.", 0.0, 0.4]]}
    assert new_cache(tmp_path).get_meta(key) == {"sentences": [["Hi.", 0.0, 0.4]]}
    assert cache.get_meta(make_key("tts", text="other")) is None


# -- lifetimes -------------------------------------------------------------

def test_default_ttl_expires_entries(tmp_path, clock):
    cache = new_cache(tmp_path, max_age_hours=2)
    key = make_key("tts", text="ttl")
    produce = Producer()
    cache.get_or_create(key, ".wav", produce)
    clock.advance(1.9 * 3600)
    cache.get_or_create(key, ".wav", produce)
    assert produce.calls == 1
    clock.advance(0.2 * 3600)  # 2.1 h after it was made
    assert cache.get(key, ".wav") is None
    cache.get_or_create(key, ".wav", produce)
    assert produce.calls == 2
    assert cache.stats()["expired"] == 1


def test_ttl_override_on_set(tmp_path, clock):
    cache = new_cache(tmp_path, max_age_hours=2)
    short, long = make_key("tts", text="short"), make_key("tts", text="long")
    cache.get_or_create(short, ".wav", Producer(), ttl_hours=0.5)
    cache.get_or_create(long, ".wav", Producer(), ttl_hours=10)
    clock.advance(1 * 3600)
    assert cache.get(short, ".wav") is None
    clock.advance(4 * 3600)  # 5 h: past the default, within its own 10 h
    assert cache.get(long, ".wav") is not None
    clock.advance(6 * 3600)
    assert cache.get(long, ".wav") is None


def test_max_age_override_on_get(tmp_path, clock):
    cache = new_cache(tmp_path, max_age_hours=100)
    key = make_key("image", prompt="fresh please")
    produce = Producer()
    cache.get_or_create(key, ".png", produce)
    clock.advance(3 * 3600)
    assert cache.get(key, ".png", max_age_hours=5) is not None
    assert cache.get(key, ".png", max_age_hours=2) is None
    cache.get_or_create(key, ".png", produce, max_age_hours=2)
    assert produce.calls == 2  # remade because the caller wanted a fresher one
    assert cache.get(key, ".png", max_age_hours=2) is not None


def test_cleanup_expired_removes_only_expired_and_stray_files(tmp_path, clock):
    cache = new_cache(tmp_path, max_age_hours=1)
    old, kept = make_key("tts", text="old"), make_key("tts", text="kept")
    cache.get_or_create(old, ".wav", Producer())
    cache.put_meta(old, {"n": 1})
    clock.advance(0.9 * 3600)
    cache.get_or_create(kept, ".wav", Producer(), ttl_hours=24)
    folder = tmp_path / "cache" / "objects" / "ff"
    folder.mkdir(parents=True, exist_ok=True)
    stale_temp, orphan = folder / ".tmp-dead.wav", folder / ("f" * 32 + ".wav")
    for stray in (stale_temp, orphan):
        stray.write_bytes(b"junk")
        os.utime(stray, (clock.now - 7200, clock.now - 7200))
    fresh_temp = folder / ".tmp-being-written.wav"
    fresh_temp.write_bytes(b"in progress")
    dead_lock = tmp_path / "cache" / "locks" / ("e" * 32 + ".lock")  # its holder was killed
    dead_lock.write_bytes(b"")
    os.utime(dead_lock, (clock.now - 7200, clock.now - 7200))
    clock.advance(0.2 * 3600)
    os.utime(fresh_temp, (clock.now - 60, clock.now - 60))  # written a minute ago
    assert cache.cleanup_expired() == 3  # old entry + stale temp + orphan
    assert not cache.contains(old, ".wav") and cache.get_meta(old) is None
    assert cache.contains(kept, ".wav")
    assert not stale_temp.exists() and not orphan.exists() and fresh_temp.exists()
    assert not dead_lock.exists()
    assert cache.stats()["entries"] == 1


# -- size limit ------------------------------------------------------------

def test_eviction_drops_least_recently_used_first(tmp_path, clock):
    cache = new_cache(tmp_path, max_size_mb=10_000 / 2**20)  # 10,000 bytes
    keys = {name: make_key("image", prompt=name) for name in "abcde"}
    for name in "abc":
        cache.get_or_create(keys[name], ".png", Producer(name.encode() * 3000))
        clock.advance(10)
    cache.get_or_create(keys["a"], ".png", Producer())  # a is now the most recently used
    clock.advance(10)
    assert cache.get_size() == pytest.approx(9000 / 2**20, abs=1e-3)
    cache.get_or_create(keys["d"], ".png", Producer(b"d" * 3000))  # 12,000 > 10,000
    assert not cache.contains(keys["b"], ".png")
    assert all(cache.contains(keys[n], ".png") for n in "acd")
    assert cache.stats()["evictions"] == 1
    clock.advance(10)
    cache.get_or_create(keys["e"], ".png", Producer(b"e" * 6000))  # 15,000: c, then a go
    assert not cache.contains(keys["c"], ".png") and not cache.contains(keys["a"], ".png")
    assert cache.contains(keys["d"], ".png")
    assert cache.get_size() <= 10_000 / 2**20


def test_recently_used_entries_are_kept_over_the_limit(tmp_path, clock):
    cache = new_cache(tmp_path, max_size_mb=5000 / 2**20, protect_recent_s=600)
    first = make_key("tts", text="in use by the running job")
    cache.get_or_create(first, ".wav", Producer(b"x" * 4000))
    clock.advance(60)
    cache.get_or_create(make_key("tts", text="next"), ".wav", Producer(b"y" * 4000))
    assert cache.contains(first, ".wav")  # a job may still hold its path
    clock.advance(3600)
    cache.cleanup_expired()  # enforces the limit once nothing is protected
    assert not cache.contains(first, ".wav")


# -- invalidate / clear ------------------------------------------------------

def test_invalidate_removes_artifact_and_meta(tmp_path):
    cache = new_cache(tmp_path)
    key, other = make_key("tts", text="gone"), make_key("tts", text="stays")
    produce = Producer()
    path = cache.get_or_create(key, ".wav", produce)
    cache.put_meta(key, {"a": 1})
    cache.get_or_create(other, ".wav", Producer())
    assert cache.invalidate(key) is True
    assert not path.exists() and cache.get_meta(key) is None
    assert cache.invalidate(key) is False
    assert cache.contains(other, ".wav")
    cache.get_or_create(key, ".wav", produce)
    assert produce.calls == 2


def test_clear_removes_everything_but_keeps_counts(tmp_path):
    cache = new_cache(tmp_path)
    for i in range(3):
        key = make_key("image", prompt=str(i))
        cache.get_or_create(key, ".png", Producer())
        cache.get_or_create(key, ".png", Producer())
    assert cache.clear() == 3
    assert cache.get_size() == 0 and cache.stats()["entries"] == 0
    assert [p for p in (tmp_path / "cache" / "objects").rglob("*") if p.is_file()] == []
    assert cache.stats()["lifetime"]["hits"] == 3


# -- statistics ----------------------------------------------------------------

def test_stats_persist_across_instances(make_settings):
    settings = make_settings()
    first = open_cache(settings)
    tts, image = make_key("tts", text="a"), make_key("image", prompt="b")
    for _ in range(3):
        first.get_or_create(tts, ".wav", Producer())
    first.get_or_create(image, ".png", Producer())
    first.close()
    second = open_cache(settings)
    assert second.stats()["hits"] == 0  # nothing happened in this session yet
    lifetime = second.stats()["lifetime"]
    assert (lifetime["hits"], lifetime["misses"], lifetime["hit_rate"]) == (2, 2, 0.5)
    assert lifetime["by_kind"]["tts"]["hits"] == 2 and lifetime["by_kind"]["image"]["misses"] == 1
    second.get_or_create(image, ".png", Producer())
    assert open_cache(settings).stats()["lifetime"]["hits"] == 3


def test_stats_since_a_snapshot(tmp_path):
    cache = new_cache(tmp_path)
    key = make_key("tts", text="job one")
    cache.get_or_create(key, ".wav", Producer())
    mark = cache.counts()
    cache.get_or_create(key, ".wav", Producer())
    job = cache.stats(since=mark)
    assert (job["hits"], job["misses"], job["hit_rate"]) == (1, 0, 1.0)


# -- damage --------------------------------------------------------------------

@pytest.mark.parametrize("damage", ["truncate", "flip", "delete", "empty"])
def test_damaged_entry_is_dropped_and_made_again(tmp_path, damage):
    data = bytes(range(256)) * 40
    key = make_key("tts", text=f"damage {damage}")
    path = new_cache(tmp_path).get_or_create(key, ".wav", Producer(data))
    if damage == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "flip":
        path.write_bytes(data[:100] + bytes([data[100] ^ 0xFF]) + data[101:])
    elif damage == "delete":
        path.unlink()
    else:
        path.write_bytes(b"")
    cache = new_cache(tmp_path)
    produce = Producer(data)
    again = cache.get_or_create(key, ".wav", produce)
    assert produce.calls == 1
    assert again.read_bytes() == data
    assert cache.stats()["corrupt"] == 1
    assert new_cache(tmp_path).get_or_create(key, ".wav", produce).read_bytes() == data
    assert produce.calls == 1


def test_damage_after_a_verified_hit_is_still_noticed(tmp_path):
    cache = new_cache(tmp_path)
    data = b"0123456789" * 500
    key = make_key("image", prompt="same process")
    path = cache.get_or_create(key, ".png", Producer(data))
    cache.get_or_create(key, ".png", Producer(data))  # verified and remembered
    path.write_bytes(b"X" * len(data))  # same size, new content, new mtime
    os.utime(path, ns=(time.time_ns() + 10**9, time.time_ns() + 10**9))
    produce = Producer(data)
    assert cache.get_or_create(key, ".png", produce).read_bytes() == data
    assert produce.calls == 1


def test_lost_index_row_means_a_miss_not_a_wrong_file(tmp_path):
    cache = new_cache(tmp_path)
    key = make_key("tts", text="row lost")
    cache.get_or_create(key, ".wav", Producer(b"old" * 100))
    cache.disk.index.delete(key)  # as after a crash between rename and index write
    produce = Producer(b"new" * 100)
    assert cache.get_or_create(key, ".wav", produce).read_bytes() == b"new" * 100
    assert produce.calls == 1


# -- CACHE_ENABLED=false -----------------------------------------------------------

def test_disabled_cache_makes_fresh_scratch_files_and_cleans_them(make_settings, tmp_path):
    settings = make_settings(CACHE_ENABLED="false")
    cache = open_cache(settings)
    key = make_key("tts", text="no cache")
    produce = Producer()
    first = cache.get_or_create(key, ".wav", produce)
    second = cache.get_or_create(key, ".wav", produce)
    assert produce.calls == 2 and first != second
    assert first.parent == settings.path("WORK_DIR") / "uncached" and first.suffix == ".wav"
    assert first.read_bytes() == produce.data
    assert not settings.path("CACHE_DIR").exists()
    cache.put_meta(key, {"a": 1})
    assert cache.get_meta(key) is None and cache.get(key, ".wav") is None
    stats = cache.stats()
    assert stats["enabled"] is False and stats["hits"] == 0 and stats["misses"] == 3
    cache.release(first)
    assert not first.exists() and second.exists()
    cache.close()
    assert not second.exists()
    assert cache.invalidate(key) is False and cache.get_size() == 0.0


def test_disabled_cache_removes_scratch_file_when_producer_fails(make_settings):
    settings = make_settings(CACHE_ENABLED="false")
    cache = open_cache(settings)

    def broken(tmp: Path) -> None:
        tmp.write_bytes(b"x")
        raise OSError("disk full")

    with pytest.raises(OSError):
        cache.get_or_create(make_key("tts", text="x"), ".wav", broken)
    assert list((settings.path("WORK_DIR") / "uncached").iterdir()) == []
