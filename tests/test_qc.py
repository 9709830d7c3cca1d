"""QC on every output: planted defects are caught and named; the examples and a slow zoom pass."""
from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from meters import speech_like, write_wav
from generators.ffmpeg import ffmpeg_exe
from jobmodel.errors import QCFailed
from protovideo.pipeline.jobcheck import JobChecker
from job_parsing import parse_job
from protovideo.pipeline.qc import QCPlan, ScenePlan, check_output
from protovideo.pipeline.render import make_context, render_job

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
W, H, FPS = 180, 320, 10
SMALL = {"width": W, "height": H, "fps": FPS, "transition": "crossfade", "transition_duration": 0.4}


def render(data: dict, folder: Path, settings):
    return render_job(parse_job(data, folder), make_context(settings))


def problems(qc: dict, check: str) -> list[dict]:
    return [p for p in qc["problems"] if p["check"] == check]


def test_black_picture_fails_the_job_naming_the_scene_and_publishes_nothing(make_settings, tmp_path):
    Image.new("RGB", (90, 160), (0, 0, 0)).save(tmp_path / "black.png")
    data = {"id": "black", "video": SMALL, "scenes": [
        {"duration": 2.0, "promptImage": "a field"}, {"duration": 3.0, "image": "black.png"},
        {"duration": 2.0, "promptImage": "a lake"}]}
    settings = make_settings(QC="fail")
    with pytest.raises(QCFailed) as caught:
        render(data, tmp_path, settings)
    assert "scenes[1]: black picture" in str(caught.value)
    black = problems(caught.value.qc, "black")
    assert [p["scene"] for p in black] == [1]
    assert 1.8 <= black[0]["start"] <= 2.3 and 4.7 <= black[0]["end"] <= 5.2
    assert not (settings.path("OUTPUT_DIR") / "black.mp4").exists(), "a failed check publishes no video"
    assert caught.value.to_record()["qc"]["passed"] is False


def test_silent_recording_is_named_and_warn_still_delivers(make_settings, tmp_path):
    write_wav(tmp_path / "silent.wav", np.zeros(3 * 48000))
    write_wav(tmp_path / "voice.wav", speech_like(3.0, seed=3) * 0.3)
    data = {"id": "mute", "video": SMALL, "scenes": [
        {"narration": "silent.wav", "motion": "zoom_in"}, {"narration": "voice.wav", "motion": "zoom_out"}]}
    result = render(data, tmp_path, make_settings())      # QC=warn, the default
    assert result.output.is_file()
    assert result.qc["passed"] is False and result.qc["mode"] == "warn"
    assert [p["scene"] for p in problems(result.qc, "silence")] == [0]
    assert result.report["qc"] == result.qc


def test_clip_that_freezes_half_way_is_caught(make_settings, tmp_path):
    subprocess.run([ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=10:duration=2.5",
                    "-vf", "tpad=stop_mode=clone:stop_duration=3", "-pix_fmt", "yuv420p",
                    str(tmp_path / "stops.mp4")], check=True)
    data = {"id": "freeze", "video": SMALL, "scenes": [
        {"duration": 2.0, "promptImage": "a hill", "motion": "pan_left"},
        {"type": "video", "video": "stops.mp4", "duration": 5.5}]}
    result = render(data, tmp_path, make_settings())
    frozen = problems(result.qc, "frozen")
    assert [p["scene"] for p in frozen] == [1], result.qc["problems"]
    assert frozen[0]["start"] == pytest.approx(2.0 + 2.5, abs=0.5)


def test_sound_shorter_than_the_picture_is_caught(tmp_path):
    out = tmp_path / "short_sound.mp4"
    subprocess.run([ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=180x320:rate=10:duration=4",
                    "-f", "lavfi", "-i", "sine=frequency=300:duration=2.5:sample_rate=48000",
                    "-c:v", "libx264", "-g", "20", "-pix_fmt", "yuv420p", "-c:a", "aac", "-ac", "2",
                    str(out)], check=True)
    plan = QCPlan(fps=10, duration=4.0, scenes=(ScenePlan(0, 0.0, 4.0, motion="clip"),))
    qc = check_output(out, plan, "warn")
    (duration,) = problems(qc, "duration")
    assert "shorter" in duration["message"]
    assert qc["figures"]["audio_duration_s"] == pytest.approx(2.5, abs=0.05)
    assert not problems(qc, "frozen") and not problems(qc, "black")


@pytest.mark.parametrize("name", ["reel.json", "landscape.json", "multilingual.json"])
def test_readme_examples_pass_with_no_false_alarm(make_settings, name):
    settings = make_settings()
    job = JobChecker(settings).read(EXAMPLES / name)
    small = dataclasses.replace(job.video, width=job.video.width // 6 // 2 * 2,
                                height=job.video.height // 6 // 2 * 2, fps=FPS)
    result = render_job(dataclasses.replace(job, video=small), make_context(settings))
    assert result.qc["passed"], result.qc["problems"]
    figures = result.qc["figures"]
    assert figures["frames_decoded"] == figures["frames"] == round(result.duration_s * FPS)
    assert figures["sample_rate"] == 48000 and figures["channels"] == 2


def test_slow_zoom_over_a_smooth_picture_is_no_freeze(make_settings, tmp_path):
    ys, xs = np.mgrid[0:640, 0:360].astype(np.float32)
    sky = np.stack([90 + 60 * ys / 640, 140 + 40 * ys / 640, 200 + 0 * xs], axis=2)   # no grain
    Image.fromarray(sky.astype(np.uint8)).save(tmp_path / "sky.png")
    data = {"id": "slow", "video": SMALL, "scenes": [
        {"image": "sky.png", "duration": 20.0, "motion": "zoom_in"},
        {"image": "sky.png", "duration": 4.0, "motion": "none"}]}
    result = render(data, tmp_path, make_settings(QC="fail"))
    assert result.qc["passed"], result.qc["problems"]


def test_a_camera_move_that_never_shows_is_caught_and_motion_none_is_not(tmp_path):
    still = tmp_path / "still.mp4"
    subprocess.run([ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=180x320:rate=10:duration=0.1",
                    "-f", "lavfi", "-i", "sine=frequency=300:duration=6.1:sample_rate=48000",
                    "-vf", "tpad=stop_mode=clone:stop_duration=6", "-c:v", "libx264", "-g", "20", "-pix_fmt", "yuv420p", "-c:a", "aac", "-ac", "2", str(still)],
                   check=True)

    def qc_as(motion: str) -> dict:
        plan = QCPlan(fps=10, duration=6.1, scenes=(ScenePlan(0, 0.0, 6.1, motion=motion, ramp=0.9),))
        return check_output(still, plan, "warn")
    (frozen,) = problems(qc_as("camera"), "frozen")
    assert "camera move does not show" in frozen["message"]
    assert not problems(qc_as("none"), "frozen")
    assert not problems(qc_as("clip"), "black")
