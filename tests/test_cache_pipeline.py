"""The cache in real renders: the same job twice makes nothing twice; one changed narration
makes only that narration again; a damaged entry is made again and the job still succeeds."""
from __future__ import annotations

import hashlib
import json

import pytest

from job_parsing import parse_job
from protovideo.pipeline.render import make_context, render_job

HUGE = 10**7


def job(job_id: str, base_dir, first_line: str = "Hello there."):
    return parse_job({
        "id": job_id,
        "video": {"width": 160, "height": 284, "fps": 12},
        "scenes": [
            {"narration_text": first_line, "promptImage": "a red kite"},
            {"narration_text": "Second scene.", "promptImage": "a blue sea"},
        ]}, base_dir=base_dir)


def kinds(result) -> dict:
    report = json.loads(result.report_path.read_text())
    return report["cache_stats"], report["steps"]


@pytest.fixture
def settings(make_settings):
    return make_settings(MEMORY_WARNING_THRESHOLD=HUGE, MEMORY_CRITICAL_THRESHOLD=HUGE)


def test_second_render_makes_no_tts_or_image_calls(settings, tmp_path):
    first = render_job(job("twice-a", tmp_path), make_context(settings))
    stats, steps = kinds(first)
    assert stats["by_kind"]["tts"]["misses"] == 2 and stats["by_kind"]["image"]["misses"] == 2
    assert "tts_synthesis" in steps

    second = render_job(job("twice-b", tmp_path), make_context(settings))
    stats, steps = kinds(second)
    for kind, made_before in (("tts", 2), ("image", 2), ("piece", 1)):
        assert stats["by_kind"][kind]["misses"] == 0, kind
        assert stats["by_kind"][kind]["hits"] >= made_before, kind
    assert stats["misses"] == 0 and stats["hit_rate"] == 1.0
    assert "tts_synthesis" not in steps
    assert second.output.read_bytes()[4:8] == b"ftyp"
    # the joined MP4 and its poster come out of the cache: no join, no decode, the same bytes
    assert "mux" in kinds(first)[1] and "poster" in kinds(first)[1]
    assert "mux" not in steps and "poster" not in steps
    assert stats["by_kind"]["joined"] == {"hits": 1, "misses": 0, "hit_rate": 1.0}
    assert stats["by_kind"]["poster"] == {"hits": 1, "misses": 0, "hit_rate": 1.0}
    assert second.output != first.output and second.output.read_bytes() == first.output.read_bytes()
    assert second.poster.read_bytes()[:2] == b"\xff\xd8" and second.poster.read_bytes() == first.poster.read_bytes()

    third = render_job(job("twice-c", tmp_path, first_line="Hello again."), make_context(settings))
    stats, steps = kinds(third)
    assert stats["by_kind"]["tts"] == {"hits": 1, "misses": 1, "hit_rate": 0.5}
    assert stats["by_kind"]["image"]["misses"] == 0
    assert stats["by_kind"]["joined"]["misses"] == 1 and "mux" in steps   # new narration: joined again
    assert third.output.read_bytes() != first.output.read_bytes()


def test_damaged_cached_narration_is_made_again_and_the_job_succeeds(settings, tmp_path):
    render_job(job("damage-a", tmp_path), make_context(settings))
    wavs = sorted((settings.path("CACHE_DIR") / "objects").rglob("*.wav"))
    assert len(wavs) == 2
    for wav in wavs:
        wav.write_bytes(wav.read_bytes()[:100])  # truncated, as after a full disk
    result = render_job(job("damage-b", tmp_path), make_context(settings))
    stats, _steps = kinds(result)
    assert stats["corrupt"] == 2 and stats["by_kind"]["tts"]["misses"] == 2
    assert result.output.stat().st_size > 1000
    remade = sorted((settings.path("CACHE_DIR") / "objects").rglob("*.wav"))
    assert len(remade) == 2 and all(w.stat().st_size > 1000 for w in remade)
    # each file is named by the SHA-256 of its bytes: the truncated ones are gone
    assert all(w.name.split(".")[1] == hashlib.sha256(w.read_bytes()).hexdigest() for w in remade)


def test_render_with_cache_disabled_leaves_no_scratch_files(make_settings, tmp_path):
    settings = make_settings(CACHE_ENABLED="false", MEMORY_WARNING_THRESHOLD=HUGE,
                             MEMORY_CRITICAL_THRESHOLD=HUGE)
    result = render_job(job("nocache", tmp_path), make_context(settings))
    stats, _steps = kinds(result)
    assert stats["enabled"] is False and stats["hits"] == 0 and stats["misses"] > 0
    assert result.output.is_file()
    assert not settings.path("CACHE_DIR").exists()
    uncached = settings.path("WORK_DIR") / "uncached"
    assert not uncached.exists() or list(uncached.iterdir()) == []
