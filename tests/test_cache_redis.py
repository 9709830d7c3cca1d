"""The Redis level against a real Redis server: artifacts shared between two machines."""
from __future__ import annotations

import dataclasses
import hashlib
import uuid
from pathlib import Path

import pytest
import redis

from cache import ArtifactCache, make_key, open_cache


class Producer:
    def __init__(self, data: bytes):
        self.data, self.calls = data, 0

    def __call__(self, tmp: Path) -> None:
        self.calls += 1
        tmp.write_bytes(self.data)


@pytest.fixture
def prefix(redis_url):
    name = f"test:cache:{uuid.uuid4().hex}:"
    yield name
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=name + "*"))
    if keys:
        client.delete(*keys)
    client.close()


def machine(tmp_path, name, redis_url, prefix, **kw) -> ArtifactCache:
    """A cache with its own folder (as on another machine) sharing one Redis level."""
    kw.setdefault("max_age_hours", 168)
    return ArtifactCache(tmp_path / name / "cache", scratch=tmp_path / name / "scratch",
                         redis_url=redis_url, redis_prefix=prefix, protect_recent_s=0, **kw)


def test_second_machine_gets_artifact_and_meta_from_redis(tmp_path, redis_url, prefix):
    first, second = (machine(tmp_path, n, redis_url, prefix) for n in ("one", "two"))
    key = make_key("tts", text="shared narration")
    audio = bytes(range(256)) * 64
    made = Producer(audio)
    first.get_or_create(key, ".wav", made)
    first.put_meta(key, {"sentences": [["Hello.", 0.0, 0.5]]})
    again = Producer(b"should not be called")
    path = second.get_or_create(key, ".wav", again)
    assert again.calls == 0 and made.calls == 1
    assert path.read_bytes() == audio and path.is_relative_to(tmp_path / "two")
    assert second.get_meta(key) == {"sentences": [["Hello.", 0.0, 0.5]]}
    stats = second.stats()
    assert stats["hits"] == 1 and stats["misses"] == 0 and stats["by_level"] == {"redis": 1}
    assert "redis" in stats["levels"]
    # now on the second machine's disk: the next hit is local
    second.get_or_create(key, ".wav", again)
    assert second.stats()["by_level"] == {"redis": 1, "disk": 1}


def test_invalidate_removes_the_shared_copy(tmp_path, redis_url, prefix):
    first, second = (machine(tmp_path, n, redis_url, prefix) for n in ("one", "two"))
    key = make_key("image", prompt="to forget")
    first.get_or_create(key, ".png", Producer(b"PNG" * 100))
    assert first.invalidate(key)
    client = redis.Redis.from_url(redis_url)
    assert list(client.scan_iter(match=prefix + "*")) == []
    made = Producer(b"PNG2" * 100)
    assert second.get_or_create(key, ".png", made).read_bytes() == b"PNG2" * 100
    assert made.calls == 1


def test_damaged_shared_copy_is_dropped_and_made_again(tmp_path, redis_url, prefix):
    first, second = (machine(tmp_path, n, redis_url, prefix) for n in ("one", "two"))
    key = make_key("image", prompt="damaged in redis")
    first.get_or_create(key, ".png", Producer(b"GOOD" * 100))
    client = redis.Redis.from_url(redis_url)
    client.hset(prefix + "a:" + key, "data", b"GOOD" * 50)  # truncated
    made = Producer(b"GOOD" * 100)
    assert second.get_or_create(key, ".png", made).read_bytes() == b"GOOD" * 100
    assert made.calls == 1
    assert client.hget(prefix + "a:" + key, "size") == b"400"  # the fresh copy was shared again


def test_a_bit_flipped_shared_copy_is_not_served(tmp_path, redis_url, prefix, caplog):
    """Same size, one bit changed: only its SHA-256 can tell, and it does."""
    first, second = (machine(tmp_path, n, redis_url, prefix) for n in ("one", "two"))
    key = make_key("piece", scene=2)
    data = bytes(range(256)) * 16
    first.get_or_create(key, ".mp4", Producer(data))
    client = redis.Redis.from_url(redis_url)
    shared = client.hgetall(prefix + "a:" + key)
    assert shared[b"digest"].decode() == hashlib.sha256(data).hexdigest()
    flipped = bytearray(shared[b"data"])
    flipped[1000] ^= 0x01
    client.hset(prefix + "a:" + key, "data", bytes(flipped))
    made = Producer(data)
    path = second.get_or_create(key, ".mp4", made)
    assert made.calls == 1 and path.read_bytes() == data
    assert "damaged Redis entry" in caplog.text
    assert second.stats()["by_level"] == {}          # nothing was served from Redis
    assert client.hget(prefix + "a:" + key, "data") == data   # the fresh copy was shared again


def test_a_shared_copy_damaged_on_its_way_to_the_disk_is_made_again(tmp_path, redis_url, prefix,
                                                                     monkeypatch, caplog):
    """Redis handed back whole bytes, but what reached the disk does not hash to their digest."""
    first, second = (machine(tmp_path, n, redis_url, prefix) for n in ("one", "two"))
    key = make_key("tts", text="torn on the way")
    data = b"RIFF" * 500
    first.get_or_create(key, ".wav", Producer(data))
    real_fetch = type(second.redis).fetch

    def torn(self, name):
        item = real_fetch(self, name)
        return dataclasses.replace(item, data=item.data[:-10]) if item is not None else None

    monkeypatch.setattr(type(second.redis), "fetch", torn)
    made = Producer(data)
    assert second.get_or_create(key, ".wav", made).read_bytes() == data
    assert made.calls == 1 and "does not match its digest" in caplog.text
    assert "unavailable" not in second.stats()


def test_redis_entry_expires_with_the_entry_lifetime(tmp_path, redis_url, prefix):
    first = machine(tmp_path, "one", redis_url, prefix)
    key = make_key("tts", text="short lived")
    first.get_or_create(key, ".wav", Producer(b"x" * 100), ttl_hours=0.5)
    ttl = redis.Redis.from_url(redis_url).ttl(prefix + "a:" + key)
    assert 0 < ttl <= 1800


def test_large_artifacts_stay_local(tmp_path, redis_url, prefix):
    first = machine(tmp_path, "one", redis_url, prefix, redis_max_item_mb=0.001)
    key = make_key("video", scene=3)
    first.get_or_create(key, ".mp4", Producer(b"v" * 5000))
    assert not redis.Redis.from_url(redis_url).exists(prefix + "a:" + key)


def test_clear_removes_only_this_prefix(tmp_path, redis_url, prefix):
    client = redis.Redis.from_url(redis_url)
    other = "test:other:" + uuid.uuid4().hex
    client.set(other, b"keep")
    try:
        first = machine(tmp_path, "one", redis_url, prefix)
        first.get_or_create(make_key("tts", text="a"), ".wav", Producer(b"a" * 10))
        first.clear()
        assert list(client.scan_iter(match=prefix + "*")) == []
        assert client.get(other) == b"keep"
    finally:
        client.delete(other)


def test_unreachable_redis_never_fails_a_job(make_settings):
    settings = make_settings(REDIS_URL="redis://127.0.0.1:1/0", CACHE_REDIS="on")
    cache = open_cache(settings)
    key = make_key("tts", text="redis is down")
    made = Producer(b"ok" * 50)
    assert cache.get_or_create(key, ".wav", made).read_bytes() == b"ok" * 50
    cache.put_meta(key, {"a": 1})
    assert cache.get_meta(key) == {"a": 1}
    assert cache.get_or_create(key, ".wav", made).read_bytes() == b"ok" * 50
    assert made.calls == 1
    assert cache.redis is not None and cache.redis.available is False
