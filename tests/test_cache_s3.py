"""The shared cache level on S3 (CACHE_STORE) against a real S3 server (radosgw): a second
"machine" (its own empty CACHE_DIR) gets what the first made; a damaged object is refused by its
digest and made again; a store that is down never fails a job."""
from __future__ import annotations

import logging
import os
import socket
import uuid
from pathlib import Path

import pytest

from cache import ArtifactCache, make_key, open_cache
from storage.address import parse_store_url
from storage.cache_level import S3CacheLevel


class Producer:
    def __init__(self, data: bytes):
        self.data, self.calls = data, 0

    def __call__(self, tmp: Path) -> None:
        self.calls += 1
        tmp.write_bytes(self.data)


@pytest.fixture
def store(s3_env) -> str:
    return f"s3://cache/t-{uuid.uuid4().hex[:10]}"


def machine(tmp_path: Path, name: str, store: str) -> ArtifactCache:
    """A cache with its own folder, as on another machine, sharing one S3 level."""
    level = S3CacheLevel(parse_store_url(store))
    return ArtifactCache(tmp_path / name / "cache", scratch=tmp_path / name / "scratch",
                         max_age_hours=168, protect_recent_s=0, shared_levels=[level])


def test_second_machine_gets_the_artifact_and_its_meta_from_s3(tmp_path, store):
    first, second = machine(tmp_path, "a", store), machine(tmp_path, "b", store)
    key = make_key("piece", scene="one", version=1)
    piece = os.urandom(300_000)
    made = Producer(piece)
    first.get_or_create(key, ".mp4", made)
    first.put_meta(key, {"frames": 75})
    again = Producer(b"should not be called")
    path = second.get_or_create(key, ".mp4", again)
    assert made.calls == 1 and again.calls == 0
    assert path.read_bytes() == piece and path.is_relative_to(tmp_path / "b")
    assert second.get_meta(key) == {"frames": 75}
    stats = second.stats()
    assert stats["hits"] == 1 and stats["misses"] == 0 and stats["by_level"] == {"s3": 1}
    assert stats["levels"] == ["memory", "disk", "s3"]
    second.get_or_create(key, ".mp4", again)               # now on b's own disk
    assert second.stats()["by_level"] == {"s3": 1, "disk": 1}


def test_a_damaged_object_is_refused_by_its_digest_and_made_again(tmp_path, store, s3_server, caplog):
    first, second = machine(tmp_path, "a", store), machine(tmp_path, "b", store)
    key = make_key("tts", text="damaged on the way")
    audio = os.urandom(50_000)
    first.get_or_create(key, ".wav", Producer(audio))
    address = parse_store_url(store)
    object_key = address.key("a", key[:2], key)
    client = s3_server.client()
    head = client.head_object(Bucket="cache", Key=object_key)
    flipped = bytearray(audio)
    flipped[1234] ^= 0x40                                   # one bit, same size, same metadata
    client.put_object(Bucket="cache", Key=object_key, Body=bytes(flipped), Metadata=head["Metadata"])
    remade = Producer(audio)
    with caplog.at_level(logging.WARNING, logger="protovideo.cache"):
        path = second.get_or_create(key, ".wav", remade)
    assert remade.calls == 1 and path.read_bytes() == audio       # a miss, made again
    assert "damaged S3 object" in caplog.text
    assert second.stats()["misses"] == 1 and second.stats()["by_level"] == {}
    stored = client.get_object(Bucket="cache", Key=object_key)["Body"].read()
    assert stored == audio                                  # the damaged copy replaced by a whole one


def test_the_first_copy_of_a_key_stays(tmp_path, store, s3_server):
    key = make_key("image", prompt="two machines at once")
    one, two = machine(tmp_path, "a", store), machine(tmp_path, "b", store)
    one.get_or_create(key, ".png", Producer(b"A" * 1000))
    two.put(key, ".png", _file(tmp_path / "other.png", b"B" * 1000))   # refused by If-None-Match
    third = machine(tmp_path, "c", store)
    assert third.get(key, ".png").read_bytes() == b"A" * 1000


def _file(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_a_store_that_is_down_never_fails_a_job(tmp_path, s3_env, monkeypatch, caplog):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", f"http://127.0.0.1:{closed}")
    cache = machine(tmp_path, "a", "s3://cache/down")
    made = Producer(b"made locally")
    with caplog.at_level(logging.WARNING, logger="protovideo.cache"):
        path = cache.get_or_create(make_key("tts", text="store down"), ".wav", made)
        cache.get_or_create(make_key("tts", text="store still down"), ".wav", made)
    assert path.read_bytes() == b"made locally" and made.calls == 2
    assert caplog.text.count("S3 level s3://cache/down unavailable") == 1   # logged once


def test_open_cache_adds_the_level_cache_store_names(make_settings, store):
    import storage  # noqa: F401  (registers the S3 level, as the entry point does at start)
    cache = open_cache(make_settings(CACHE_STORE=store))
    assert [level.name for level in cache.shared] == ["s3"]
    assert cache.shared[0].address == parse_store_url(store)
    assert open_cache(make_settings()).shared == []


def test_a_second_machine_renders_a_job_from_the_shared_level(tmp_path, store, make_settings):
    """Two "machines" (their own CACHE_DIR, OUTPUT_DIR, WORK_DIR) and one CACHE_STORE: B makes
    nothing that A made, and its video is byte for byte A's."""
    import json

    import storage  # noqa: F401  (the S3 level, registered as at start)
    from job_parsing import parse_job
    from protovideo.pipeline.render import make_context, render_job

    job = {"id": "shared-1", "video": {"width": 160, "height": 284, "fps": 12},
           "scenes": [{"narration_text": "Made on machine A.", "promptImage": "a red kite"},
                      {"narration_text": "Copied by machine B.", "promptImage": "a blue sea"}]}
    results = {}
    for name in ("a", "b"):
        root = tmp_path / name
        settings = make_settings(CACHE_STORE=store, CACHE_DIR=root / "cache", OUTPUT_DIR=root / "out",
                                 WORK_DIR=root / "work", REPORT_DIR=root / "reports")
        result = render_job(parse_job(job, base_dir=tmp_path), make_context(settings))
        results[name] = (result, json.loads(result.report_path.read_text()))
    (a, report_a), (b, report_b) = results["a"], results["b"]
    assert report_a["cache_stats"]["hits"] == 0
    stats = report_b["cache_stats"]
    assert stats["misses"] == 0 and stats["hit_rate"] == 1.0
    assert stats["by_level"] == {"s3": stats["hits"]}
    assert "tts_synthesis" not in report_b["steps"]
    assert b.output.read_bytes() == a.output.read_bytes() and b.output.is_relative_to(tmp_path / "b")
