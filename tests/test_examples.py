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


def test_the_batch_example_has_five_valid_rows_that_render_offline(make_settings):
    from jobmodel.batch_rows import read_rows_file
    from jobmodel.jobfile import read_job_file
    from protovideo.service.batches import plan_batch
    settings = make_settings()
    checker = JobChecker(settings)
    folder = EXAMPLES / "batch"
    plan = plan_batch(read_job_file(folder / "template.json"), read_rows_file(folder / "rows.csv"), checker,
                      folder, batch_id="example")
    assert plan.errors == [] and [j["id"] for j in plan.jobs] == [f"example-{n}" for n in range(1, 6)]
    job = checker.parse(plan.jobs[2], folder)                      # Rome
    assert job.output_filename == "city-rome.mp4" and job.scenes[0].text.content == "Rome"
    assert job.scenes[0].narration_text.startswith("Good morning from Rome. Rome was built on seven hills")
    small = dataclasses.replace(job.video, width=180, height=320, fps=10)
    result = render_job(dataclasses.replace(job, video=small), make_context(settings))
    assert result.output.name == "city-rome.mp4"
    assert {s["codec_type"] for s in ffprobe(result.output)["streams"]} == {"video", "audio"}


def test_the_stock_example_is_valid_and_names_its_keys(make_settings):
    without = JobChecker(make_settings()).file_problems(EXAMPLES / "stock.json")
    assert [(p["field"], p["message"].rsplit(" ", 1)[-1]) for p in without] == [
        ("scenes[0].stock", "PEXELS_API_KEY"), ("scenes[1].stock", "PEXELS_API_KEY"),
        ("scenes[2].stock", "PIXABAY_API_KEY")]
    checker = JobChecker(make_settings(PEXELS_API_KEY="a", PIXABAY_API_KEY="b"))
    assert checker.file_problems(EXAMPLES / "stock.json") == []
    job = checker.read(EXAMPLES / "stock.json")
    assert [s.param("stock").provider for s in job.scenes] == ["pexels", "pexels", "pixabay"]
    assert job.scenes[1].type == "video"
    assert "PEXELS_API_KEY" in (EXAMPLES / "stock.json").read_text()
