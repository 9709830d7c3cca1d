"""Job format v1: original names and aliases accepted; invalid jobs refused naming the field."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from jobmodel.errors import JobInvalid
from job_parsing import parse_job
from generators.narration import spread_narration
from protovideo.runtime.settings import SettingsError, load_settings

ROOT = Path(__file__).resolve().parent.parent


def scene(**kw):
    return {"duration": 2, **kw}


INVALID = [
    ({}, "scenes", "required"),
    ({"scenes": []}, "scenes", "1 to"),
    ({"scenes": "nope"}, "scenes", "list"),
    ({"scenes": [scene(), scene(), scene(duration="2")]}, "scenes[2].duration", "number"),
    ({"scenes": [scene(duration=-3)]}, "scenes[0].duration", "between"),
    ({"scenes": [{"narration_text": ""}]}, "scenes[0].duration", "required"),
    ({"scenes": [scene(durration=2)]}, "scenes[0].durration", "did you mean 'duration'"),
    ({"scenes": [scene(motion="spin")]}, "scenes[0].motion", "zoom_in"),
    ({"scenes": [scene(type="video")]}, "scenes[0].video", "needs"),
    ({"scenes": [scene(image="../secret.png")]}, "scenes[0].image", ".."),
    ({"scenes": [scene(image="/etc/passwd")]}, "scenes[0].image", "outside"),
    ({"scenes": [scene(image="ftp://example.com/a.png")]}, "scenes[0].image", "scheme"),
    ({"scenes": [scene(image="missing.png")]}, "scenes[0].image", "not found"),
    ({"scenes": [scene(text={"content": "x", "position": "left"})]}, "scenes[0].text.position", "top"),
    ({"scenes": [scene(text={"content": "x", "color": "blurple"})]}, "scenes[0].text.color", "color"),
    ({"scenes": [scene(subtitle="yes")]}, "scenes[0].subtitle", "true or false"),
    ({"scenes": [scene(subtitle=True)]}, "scenes[0].subtitle", "narration"),
    ({"scenes": [scene()], "priority": "urgent"}, "priority", "critical"),
    ({"scenes": [scene()], "id": "bad id!"}, "id", "A-Z"),
    ({"scenes": [scene()], "video": {"width": 1081, "height": 1920}}, "video.width", "even"),
    ({"scenes": [scene()], "video": {"fps": 0}}, "video.fps", "between"),
    ({"scenes": [scene()], "video": {"preset": "cinema"}}, "video.preset", "reel"),
    ({"scenes": [scene()], "music_volume": 2}, "music_volume", "between"),
    ({"scenes": [scene()], "voice": {"provider": "espeak"}}, "voice.provider", "piper"),
    ({"scenes": [scene(voice={"speed": 9})]}, "scenes[0].voice.speed", "between"),
    ({"scenes": [scene()], "subtitles": {"style": "fancy"}}, "subtitles.style", "karaoke"),
    ({"scenes": [scene()], "subtitles": {"highlight_color": "shiny"}}, "subtitles.highlight_color", "color"),
    ({"scenes": [scene()], "subtitles": {"uppercase": "yes"}}, "subtitles.uppercase", "true or false"),
    ({"scenes": [scene()], "image": {"steps": 0}}, "image.steps", "between"),
    ({"scenes": [scene(narration_text="x" * 6000)]}, "scenes[0].narration_text", "limit"),
    ({"scenes": [scene(), scene(duration=0.5)], "video": {"transition_duration": 1.0}},
     "video.transition_duration", "half"),
    ({"scenes": [scene(promptImage="a", image_prompt="b")]}, "scenes[0].image_prompt", "twice"),
]


@pytest.mark.parametrize("data,field,words", INVALID, ids=[f for _, f, _ in INVALID])
def test_invalid_job_names_the_field(tmp_path, data, field, words):
    with pytest.raises(JobInvalid) as info:
        parse_job(data, tmp_path)
    assert info.value.field == field
    assert words in str(info.value)
    assert str(info.value).startswith(field)


def test_original_names_and_snake_case_aliases(tmp_path):
    (tmp_path / "pic.png").write_bytes(b"x")
    job = parse_job({"output_filename": "../../evil/out put.mp4", "narrationText": "Hello.",
                     "scenes": [{"promptImage": "a", "text": {"content": "T", "fontsize": 50}},
                                {"image_prompt": "b", "text": {"text": "U", "font_size": 60}},
                                {"image": "pic.png", "subtitle": True}],
                     "video": {"preset": "square"}}, tmp_path)
    assert job.output_filename == "out_put.mp4"
    assert [s.image_prompt for s in job.scenes[:2]] == ["a", "b"]
    assert [s.text.fontsize for s in job.scenes[:2]] == [50, 60]
    assert job.scenes[2].image.path == (tmp_path / "pic.png").resolve()
    assert (job.video.width, job.video.height) == (1080, 1080)
    assert job.id and job.priority == "normal"


def test_spread_narration_keeps_order_and_balances():
    text = "One. Two two. Three three three. Four. Five five five five five."
    chunks = spread_narration(text, 3)
    assert len(chunks) == 3 and all(chunks)
    assert " ".join(chunks).split() == text.split()
    assert spread_narration("Just a few words here", 3) == ["Just a", "few", "words here"] or \
        len(spread_narration("Just a few words here", 3)) == 3


def test_bad_setting_is_named():
    with pytest.raises(SettingsError) as info:
        load_settings({"MAX_WORKERS": "zero"}, read_files=False)
    assert info.value.name == "MAX_WORKERS"
    with pytest.raises(SettingsError, match="TTS_DEVICE"):
        load_settings({"TTS_DEVICE": "tpu"}, read_files=False)


def test_settings_files_layer_env_over_dotenv_over_config(tmp_path):
    (tmp_path / "config.env").write_text("MAX_WORKERS=3\nPOLL_INTERVAL=5\nLOG_LEVEL=debug\n")
    (tmp_path / ".env").write_text("MAX_WORKERS=4\nPOLL_INTERVAL=6\n")
    s = load_settings({"MAX_WORKERS": "7"}, cwd=tmp_path)
    assert (s.MAX_WORKERS, s.POLL_INTERVAL, s.LOG_LEVEL) == (7, 6.0, "debug")


def _render(tmp_path, data, extra_env=None):
    job = tmp_path / "job.json"
    job.write_text(json.dumps(data) if not isinstance(data, str) else data)
    env = {**os.environ, "OUTPUT_DIR": str(tmp_path / "o"), "CACHE_DIR": str(tmp_path / "c"),
           "LOG_FILE": str(tmp_path / "w.log"), **(extra_env or {})}
    return subprocess.run([sys.executable, str(ROOT / "main_worker.py"), "render", str(job)],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)


def test_render_exit_code_2_names_the_field(tmp_path):
    proc = _render(tmp_path, {"scenes": [scene(), scene(duration="long")]})
    assert proc.returncode == 2
    assert "scenes[1].duration" in proc.stderr
    proc = _render(tmp_path, "{not json")
    assert proc.returncode == 2 and "not valid JSON" in proc.stderr
    assert not (tmp_path / "o").exists(), "nothing is written for an invalid job"


def test_bad_setting_stops_the_command_with_its_name(tmp_path):
    proc = _render(tmp_path, {"scenes": [scene()]}, {"MEMORY_WARNING_THRESHOLD": "lots"})
    assert proc.returncode == 2 and "MEMORY_WARNING_THRESHOLD" in proc.stderr


def test_caption_fields_scene_voice_and_a_recording_with_its_transcript(tmp_path):
    (tmp_path / "voice.wav").write_bytes(b"RIFF")   # parsing only looks at the path
    job = parse_job({"subtitles": {"style": "karaoke", "highlightColor": "#00ff00", "uppercase": True},
                     "scenes": [{"narration": "voice.wav", "narration_text": "What is said.", "subtitle": True},
                                {"narration": "voice.wav", "subtitle": True},
                                {"narration_text": "Hi.", "voice": {"name": "deep", "speed": 1.2}}]}, tmp_path)
    assert (job.subtitles.style, job.subtitles.highlight_color, job.subtitles.uppercase) == ("karaoke", "#00ff00", True)
    assert job.scenes[0].narration is not None and job.scenes[0].narration_text == "What is said."
    assert job.scenes[1].subtitle and job.scenes[1].narration_text == ""   # renders; the report says why no captions
    assert job.scenes[2].voice.name == "deep" and job.scenes[2].voice.speed == 1.2 and job.scenes[0].voice is None
