"""End-to-end renders on the embedded defaults (Piper, simple backgrounds), inspected like a user would."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from media import audio, edge_density, ffprobe, frames, rms, streams
from job_parsing import parse_job
from protovideo.pipeline.render import make_context, render_job

ROOT = Path(__file__).resolve().parent.parent
W, H, FPS = 270, 480, 12


def small_job(**top) -> dict:
    job = {"id": "t", "video": {"width": W, "height": H, "fps": FPS, "transition": "crossfade",
                                "transition_duration": 0.4}, "scenes": []}
    job.update(top)
    return job


@pytest.fixture(scope="module")
def three_scene(tmp_path_factory):
    """One render shared by several checks: speech+title+subtitles, silent+still, speech+zoom."""
    from protovideo.runtime.settings import load_settings
    tmp = tmp_path_factory.mktemp("render")
    settings = load_settings({"CACHE_DIR": str(tmp / "cache"), "OUTPUT_DIR": str(tmp / "out"),
                              "REPORT_DIR": str(tmp / "rep"), "WORK_DIR": str(tmp / "work"),
                              "LOG_FILE": str(tmp / "w.log")}, cwd=tmp, read_files=False)
    data = small_job(id="three", scenes=[
        {"narration_text": "Hello there. This is the first scene.", "subtitle": True,
         "text": {"content": "Welcome", "position": "top"}, "motion": "zoom_in"},
        {"duration": 1.5, "motion": "none", "promptImage": "quiet"},
        {"narration_text": "And this is the end.", "subtitle": False, "motion": "pan_left"},
    ])
    job = parse_job(data, tmp)
    result = render_job(job, make_context(settings))
    return result, tmp


def test_output_plays_with_h264_and_aac(three_scene):
    result, tmp = three_scene
    assert result.output == tmp / "out" / "three.mp4"
    info = ffprobe(result.output)
    video, sound = streams(info, "video"), streams(info, "audio")
    assert len(video) == 1 and len(sound) == 1
    assert video[0]["codec_name"] == "h264" and video[0]["pix_fmt"] == "yuv420p"
    assert (video[0]["width"], video[0]["height"]) == (W, H)
    assert sound[0]["codec_name"] == "aac"
    duration = float(info["format"]["duration"])
    assert duration == pytest.approx(result.duration_s, abs=0.15)
    assert int(video[0]["nb_read_frames"]) == round(result.duration_s * FPS)
    # faststart: the moov atom comes before the media data
    head = result.output.read_bytes()[:4096]
    assert head.find(b"moov") != -1 and (head.find(b"mdat") == -1 or head.find(b"moov") < head.find(b"mdat"))
    assert sorted(p.name for p in (tmp / "out").iterdir()
                  if not p.name.endswith((".srt", ".vtt"))) == ["three.jpg", "three.manifest.json", "three.mp4"], \
        "no partial files left; the poster and the provenance manifest beside the video"


def test_length_follows_narration(three_scene):
    result, _ = three_scene
    timeline = result.report["timeline"]
    for scene in (timeline[0], timeline[2]):
        assert scene["narration_s"] > 0.5
        assert scene["duration"] >= scene["narration_s"] + 0.5   # speech is never cut
    assert timeline[1]["duration"] == pytest.approx(1.5, abs=1 / FPS)
    assert result.duration_s == pytest.approx(sum(s["duration"] for s in timeline), abs=0.01)


def test_speech_is_audible_in_each_spoken_scene_and_silence_elsewhere(three_scene):
    result, _ = three_scene
    rate = 16000
    sound = audio(result.output, rate)
    for scene in result.report["timeline"]:
        a = int((scene["start"] + 0.3) * rate)
        b = int((scene["start"] + scene["duration"] - 0.3) * rate)
        level = rms(sound[a:b])
        if scene["narration_s"]:
            assert level > 0.02, f"scene {scene['index']} is silent"
        else:
            assert level < 0.005, f"scene {scene['index']} should be silent"


def test_frames_move_under_motion_and_hold_without(three_scene):
    result, _ = three_scene
    video = frames(result.output, W, H).astype(np.int16)
    tl = result.report["timeline"]
    def diff(i):
        return float(np.abs(video[i + 1] - video[i]).mean())
    first = [diff(i) for i in range(8, int(tl[0]["frames"]) - 8)]
    still_start = tl[1]["frames"] and int(tl[0]["frames"]) + 4
    still = [diff(i) for i in range(still_start, still_start + 8)]
    assert min(first) > 0.05, "zoom_in frames do not move"
    assert max(still) < 0.05, "motion none should hold the picture"


def test_title_and_subtitles_drawn_where_asked(three_scene):
    result, _ = three_scene
    video = frames(result.output, W, H)
    tl = result.report["timeline"]
    speaking = int((tl[0]["start"] + 0.9) * FPS)          # scene 0: title top, subtitles bottom
    silent_still = int((tl[1]["start"] + 0.75) * FPS)      # scene 1: neither
    no_subs = int((tl[2]["start"] + 0.9) * FPS)            # scene 2: speech but subtitle false
    # 9:16: titles and captions keep out of the top 15% and the bottom 35% (generators/safe_area.py)
    assert edge_density(video[speaking], 0.12, 0.3) > 0.01, "title missing at the top"
    assert edge_density(video[speaking], 0.45, 0.66) > 0.01, "subtitle missing at the bottom"
    assert edge_density(video[speaking], 0.68, 1.0) < 0.002, "text under the players' buttons"
    for index in (silent_still, no_subs):
        assert edge_density(video[index], 0.12, 0.3) < 0.002
        assert edge_density(video[index], 0.45, 0.66) < 0.002


def test_report_has_steps_and_timeline(three_scene):
    result, tmp = three_scene
    report = json.loads(result.report_path.read_text())
    assert report["job_id"] == "three"
    for step in ("tts_synthesis", "render_scene", "mux", "audio_mix"):
        assert report["steps"][step]["count"] >= 1
    assert set(report["cache_stats"]) >= {"hits", "misses", "hit_rate"}


def test_render_command_prints_the_video_path(tmp_path):
    job = small_job(scenes=[{"duration": 1.0, "motion": "zoom_in", "text": "Hi"}], id="cli")
    job_file = tmp_path / "job.json"
    job_file.write_text(json.dumps(job))
    env = {**os.environ, "CACHE_DIR": str(tmp_path / "c"), "OUTPUT_DIR": str(tmp_path / "o"),
           "REPORT_DIR": str(tmp_path / "r"), "WORK_DIR": str(tmp_path / "w"), "LOG_FILE": str(tmp_path / "l.log")}
    out = tmp_path / "mine.mp4"
    proc = subprocess.run([sys.executable, str(ROOT / "main_worker.py"), "render", str(job_file), "-o", str(out)],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(out)
    assert float(ffprobe(out)["format"]["duration"]) == pytest.approx(1.0, abs=0.1)


def test_global_narration_is_spread_and_subtitled(make_settings, tmp_path):
    data = small_job(id="global", narration_text="One two three. Four five six seven. Eight nine ten.",
                     scenes=[{"motion": "zoom_in"}, {"motion": "zoom_out"}])
    result = render_job(parse_job(data, tmp_path), make_context(make_settings()))
    tl = result.report["timeline"]
    assert all(s["narration_s"] > 0.4 for s in tl)
    video = frames(result.output, W, H)
    for scene in tl:
        idx = int((scene["start"] + 0.6) * FPS)
        assert edge_density(video[idx], 0.45, 0.66) > 0.01, f"no subtitle in scene {scene['index']}"


def test_cut_transition_and_recorded_narration_and_image_asset(make_settings, tmp_path):
    from PIL import Image
    Image.new("RGB", (64, 64), (200, 30, 30)).save(tmp_path / "red.png")
    tone = (np.sin(np.arange(16000) * 2 * np.pi * 440 / 16000) * 0.5 * 32767).astype("<i2")
    import wave
    with wave.open(str(tmp_path / "voice.wav"), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(16000), w.writeframes(tone.tobytes())
    data = small_job(id="cut", scenes=[{"image": "red.png", "duration": 1.0, "motion": "none"},
                                       {"narration": "voice.wav", "motion": "none"}])
    data["video"]["transition"] = "cut"
    result = render_job(parse_job(data, tmp_path), make_context(make_settings()))
    video = frames(result.output, W, H)
    first = video[5].astype(int)
    assert first[..., 0].mean() > 150 and first[..., 1].mean() < 80, "the picture covers the frame"
    assert result.report["timeline"][1]["narration_s"] == pytest.approx(1.0, abs=0.05)
    sound = audio(result.output)
    assert rms(sound[int(1.5 * 16000):int(2.0 * 16000)]) > 0.1


def test_video_scene_is_trimmed_cropped_and_music_ducks(make_settings, tmp_path):
    from generators.ffmpeg import ffmpeg_exe
    subprocess.run([ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=12:duration=1",
                    "-pix_fmt", "yuv420p", str(tmp_path / "clip.mp4")], check=True)
    subprocess.run([ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i", "sine=frequency=220:duration=2",
                    str(tmp_path / "music.wav")], check=True)
    data = small_job(id="vid", music="music.wav", music_volume=0.5, scenes=[
        {"type": "video", "video": "clip.mp4", "duration": 2.5},
        {"narration_text": "Now the music is quieter.", "motion": "none"}])
    result = render_job(parse_job(data, tmp_path), make_context(make_settings()))
    tl = result.report["timeline"]
    assert tl[0]["duration"] == pytest.approx(2.5, abs=1 / FPS)     # 1 s clip looped to 2.5 s
    video = frames(result.output, W, H).astype(np.int16)
    assert float(np.abs(video[3] - video[4]).mean()) > 0.2           # the clip plays
    sound = audio(result.output)
    music_only = rms(sound[int(0.5 * 16000):int(2.0 * 16000)])
    assert music_only > 0.02
    # under the voice, the music is ducked: compare the 220 Hz component
    spoken = sound[int((tl[1]["start"] + 0.4) * 16000):int((tl[1]["start"] + 1.2) * 16000)]
    def tone_level(x):
        spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
        freqs = np.fft.rfftfreq(len(x), 1 / 16000)
        return spectrum[np.argmin(np.abs(freqs - 220))] / len(x)
    assert tone_level(spoken) < 0.6 * tone_level(sound[int(0.5 * 16000):int(1.3 * 16000)])


def tone_level(x: np.ndarray, hz: float, rate: int = 16000) -> float:
    """Amplitude of the `hz` component of x (a windowed FFT bin)."""
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    freqs = np.fft.rfftfreq(len(x), 1 / rate)
    return float(spectrum[np.argmin(np.abs(freqs - hz))] / len(x))


def test_video_scene_keeps_its_own_sound_ducked_under_narration(make_settings, tmp_path):
    from generators.ffmpeg import ffmpeg_exe
    subprocess.run([ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=12:duration=5",
                    "-f", "lavfi", "-i", "sine=frequency=660:duration=5", "-pix_fmt", "yuv420p",
                    "-c:a", "aac", "-shortest", str(tmp_path / "tone.mp4")], check=True)
    data = small_job(id="clipsound", scenes=[
        {"type": "video", "video": "tone.mp4", "duration": 4.5, "narration_text": "One, two, three."},
        {"duration": 1.5, "motion": "none"},
        {"type": "video", "video": "tone.mp4", "duration": 1.5, "volume": 0}])
    data["video"]["transition"] = "cut"
    result = render_job(parse_job(data, tmp_path), make_context(make_settings()))
    tl = result.report["timeline"]
    speech_end = 0.25 + tl[0]["narration_s"]
    assert speech_end < 3.0, tl
    sound = audio(result.output)
    at = lambda a, b: sound[int(a * 16000):int(b * 16000)]  # noqa: E731
    alone = tone_level(at(speech_end + 0.5, 4.3), 660)
    under_voice = tone_level(at(0.5, speech_end - 0.2), 660)
    assert alone > 0.02, "the clip's own tone is audible where nobody speaks"
    assert under_voice < 0.6 * alone, "the clip's sound is ducked under the narration"
    assert under_voice > 0.05 * alone, "ducked, not cut"
    image_scene = at(tl[1]["start"] + 0.2, tl[1]["start"] + tl[1]["duration"] - 0.2)
    assert tone_level(image_scene, 660) < 0.05 * alone, "the clip's sound ends with its scene"
    muted = at(tl[2]["start"] + 0.2, tl[2]["start"] + tl[2]["duration"] - 0.2)
    assert tone_level(muted, 660) < 0.05 * alone, "volume 0 silences the clip"


@pytest.mark.parametrize("scene, field", [
    ({"duration": 1, "volume": 1}, "scenes[0].volume"),
    ({"type": "video", "video": "c.mp4", "duration": 1, "volume": 2.5}, "scenes[0].volume")])
def test_scene_volume_is_checked(tmp_path, scene, field):
    from jobmodel.errors import JobInvalid
    (tmp_path / "c.mp4").write_bytes(b"\0")
    with pytest.raises(JobInvalid) as caught:
        parse_job(small_job(scenes=[scene]), tmp_path)
    assert caught.value.field == field
