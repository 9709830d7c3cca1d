"""The sample jobs in examples/ are valid and render offline (here at a small size)."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from media import edge_density, ffprobe, frames
from protovideo.pipeline.jobcheck import JobChecker
from protovideo.pipeline.render import make_context, render_job

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.mark.parametrize("name,size", [("reel.json", (1080, 1920)), ("landscape.json", (1920, 1080)),
                                       ("multilingual.json", (1080, 1920))])
def test_example_renders_offline(make_settings, name, size):
    settings = make_settings()
    job = JobChecker(settings).read(EXAMPLES / name)
    assert (job.video.width, job.video.height) == size
    small = dataclasses.replace(job.video, width=size[0] // 6 // 2 * 2, height=size[1] // 6 // 2 * 2, fps=10)
    job = dataclasses.replace(job, video=small)
    result = render_job(job, make_context(settings))
    info = ffprobe(result.output)
    assert {s["codec_type"] for s in info["streams"]} == {"video", "audio"}
    assert float(info["format"]["duration"]) > 8, "the narration sets the length"
    video = frames(result.output, small.width, small.height)
    first = result.report["timeline"][0]
    speaking = int((first["start"] + 1.0) * small.fps)
    assert edge_density(video[speaking], 0.6, 0.95) > 0.005, "subtitles are drawn"
