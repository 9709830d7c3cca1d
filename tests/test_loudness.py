"""Loudness of the published sound, measured with a second meter (pyloudnorm and a 4x oversampled
true peak, tests/meters.py), not the worker's own ffmpeg ebur128 figures."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from meters import at_loudness, decoded, integrated_lufs, loudness_of, speech_like, write_wav
from protovideo.pipeline.jobcheck import JobChecker
from job_parsing import parse_job
from protovideo.pipeline.render import make_context, render_job

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
W, H, FPS = 180, 320, 10
SMALL = {"width": W, "height": H, "fps": FPS, "transition": "crossfade", "transition_duration": 0.4}


def render(data: dict, folder: Path, settings):
    return render_job(parse_job(data, folder), make_context(settings))


def recordings_job(folder: Path, lufs: float, **top) -> dict:
    """Two scenes narrated by recordings made here at `lufs` integrated, and a silent card."""
    for i in range(2):
        write_wav(folder / f"voice{i}.wav", at_loudness(speech_like(4.0, seed=i), lufs))
    return {"id": "recorded", "video": SMALL, **top, "scenes": [
        {"narration": "voice0.wav", "motion": "zoom_in"}, {"duration": 2.0, "motion": "none"},
        {"narration": "voice1.wav", "motion": "pan_left"}]}


def assert_at(path: Path, target: float, peak_limit: float = -1.5) -> None:
    lufs, peak = loudness_of(path)
    assert abs(lufs - target) <= 1.0, f"{lufs:.2f} LUFS, target {target}"
    assert peak <= peak_limit, f"true peak {peak:.2f} dBTP over {peak_limit}"


def test_readme_reel_comes_out_at_minus_14(make_settings):
    settings = make_settings()
    job = JobChecker(settings).read(EXAMPLES / "reel.json")
    job = dataclasses.replace(job, video=dataclasses.replace(job.video, width=W, height=H, fps=FPS))
    result = render_job(job, make_context(settings))
    assert_at(result.output, -14.0)
    worker = result.report["loudness"]
    assert worker["target_lufs"] == -14.0 and worker["mix"]["integrated_lufs"] < -16, \
        "the reel's mix is quieter than the target (about -21 LUFS before this change)"


def test_recordings_at_minus_30_are_raised_to_the_target(make_settings, tmp_path):
    result = render(recordings_job(tmp_path, -30.0), tmp_path, make_settings())
    before = integrated_lufs(np.stack([speech_like(4.0, seed=0)] * 2, axis=1))
    assert before == before   # the meter reads the synthetic speech
    assert_at(result.output, -14.0)


def test_job_loudness_minus_23_is_kept(make_settings, tmp_path):
    result = render(recordings_job(tmp_path, -30.0, audio={"loudness": -23}), tmp_path, make_settings())
    assert_at(result.output, -23.0)


def test_setting_sets_the_default_and_off_leaves_the_mix(make_settings, tmp_path):
    quiet = render(recordings_job(tmp_path, -30.0, id="off", audio={"loudness": "off"}), tmp_path,
                   make_settings())
    assert loudness_of(quiet.output)[0] < -26, "off: the recordings' own level (about -30 LUFS mixed)"
    louder = render(recordings_job(tmp_path, -30.0, id="setting"), tmp_path,
                    make_settings(LOUDNESS_TARGET="-18"))
    assert_at(louder.output, -18.0)


def music_job(folder: Path, **top) -> dict:
    """Narration at -24 LUFS and music 10 dB louder (-14 LUFS) at full volume; the middle scene
    has music alone."""
    rng = np.random.default_rng(7)
    seconds = 20
    t = np.arange(seconds * 48000) / 48000
    chords = sum(np.sin(2 * np.pi * f * t) for f in (220, 277.2, 329.6)) + rng.normal(0, 0.05, len(t))
    write_wav(folder / "music.wav", np.stack([at_loudness(chords, -14.0)] * 2, axis=1))
    for i in range(2):
        write_wav(folder / f"voice{i}.wav", at_loudness(speech_like(4.0, seed=10 + i), -24.0))
    return {"id": "loud-music", "video": SMALL, "music": "music.wav", "music_volume": 1.0, **top,
            "scenes": [{"narration": "voice0.wav"}, {"duration": 3.0, "motion": "none"},
                       {"narration": "voice1.wav"}]}


def test_music_10_db_over_the_narration_comes_out_at_target_with_its_balance(make_settings, tmp_path):
    settings = make_settings()
    result = render(music_job(tmp_path), tmp_path, settings)
    assert_at(result.output, -14.0)
    plain = render(music_job(tmp_path, id="plain", audio={"loudness": "off"}), tmp_path, settings)

    def balance(path: Path) -> float:
        """Loudness of the spoken first scene minus that of the music-only middle scene."""
        sound = decoded(path)
        tl = result.report["timeline"]
        spoken = sound[int(0.3 * 48000):int((tl[0]["duration"] - 0.3) * 48000)]
        middle = sound[int((tl[1]["start"] + 0.5) * 48000):int((tl[1]["start"] + 2.5) * 48000)]
        return integrated_lufs(spoken) - integrated_lufs(middle)
    assert balance(result.output) == pytest.approx(balance(plain.output), abs=1.0), \
        "the whole mix is gained: speech over music stays as the ducking set it"
