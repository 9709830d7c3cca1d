"""The MP4 the platforms take as it is, read box by box here (no library), and A/V sync measured
with the system's ffmpeg/ffprobe (another build than the worker's) on a click and a flash."""
from __future__ import annotations

import json
import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest

from meters import write_wav
from mp4boxes import box, boxes, descriptors
from generators.ffmpeg import ffmpeg_exe
from job_parsing import parse_job
from protovideo.pipeline.render import make_context, render_job

W, H, FPS = 270, 480, 30
SCENE_S = 3.0
FLASHES = (0.5, 1.0, 2.4)   # seconds into scenes 0, 1, 2: start, middle and near the end of the video


def flash_clip(folder: Path, name: str, at: float) -> Path:
    """A grey clip of SCENE_S seconds with one white frame at `at` and a click (a 10 ms 2 kHz
    burst) at the same instant in its sound (PCM, so no codec delay of its own)."""
    frames = np.full((int(SCENE_S * FPS), 240, 320), 60, dtype=np.uint8)
    frames[int(round(at * FPS))] = 235
    sound = np.zeros(int(SCENE_S * 48000))
    k = int(round(at * 48000))
    sound[k:k + 480] = 0.8 * np.sin(2 * np.pi * 2000 * np.arange(480) / 48000)
    wav = write_wav(folder / f"{name}.wav", sound)
    out = folder / f"{name}.mkv"
    proc = subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "gray", "-s", "320x240",
                           "-r", str(FPS), "-i", "pipe:0", "-i", str(wav), "-c:v", "libx264", "-pix_fmt", "yuv420p",
                           "-qp", "10", "-c:a", "pcm_s16le", "-shortest", str(out)], input=frames.tobytes())
    assert proc.returncode == 0
    return out


@pytest.fixture(scope="module")
def synced(tmp_path_factory):
    from protovideo.runtime.settings import load_settings
    from folders import folder_env
    tmp = tmp_path_factory.mktemp("sync")
    for i, at in enumerate(FLASHES):
        flash_clip(tmp, f"clip{i}", at)
    data = {"id": "sync", "video": {"width": W, "height": H, "fps": FPS, "transition": "crossfade",
                                    "transition_duration": 0.4},
            "scenes": [{"type": "video", "video": f"clip{i}.mkv", "duration": SCENE_S} for i in range(3)]}
    settings = load_settings(folder_env(tmp), cwd=tmp, read_files=False)
    return render_job(parse_job(data, tmp), make_context(settings))


def test_no_edit_lists_moov_first_48k_stereo_aac_lc_and_h264_high(synced):
    data = synced.output.read_bytes()
    found = boxes(data)
    top = [name for name, *_ in found if name.count("/") == 1]
    assert top.index("/moov") < top.index("/mdat"), top
    assert not [name for name, *_ in found if name.endswith(("/elst", "/edts"))], "an edit list in a track"
    (mp4a,) = [b for b in found if b[0].endswith("/stsd/mp4a")]
    fields = data[mp4a[1] + mp4a[2]:mp4a[1] + mp4a[2] + 28]
    channels, _bits = struct.unpack(">HH", fields[16:20])
    rate = struct.unpack(">I", fields[24:28])[0] >> 16
    assert (channels, rate) == (2, 48000)
    esds = descriptors(box(data, found, "/mp4a/esds")[4:])   # after version/flags
    assert esds[0x04][0] == 0x40, "MPEG-4 audio"
    assert esds[0x05][0] >> 3 == 2, "AAC LC (audioObjectType 2)"
    avcc = box(data, found, "/avc1/avcC")
    assert avcc[1] == 100, "H.264 High profile"
    assert 0 < avcc[3] <= 31, "level 3.1 or lower for 270x480 at 30 fps"


def test_keyframes_at_least_every_two_seconds(synced):
    exe = shutil.which("ffprobe")
    out = subprocess.run([exe, "-v", "error", "-select_streams", "v", "-show_entries", "packet=pts_time,flags",
                          "-of", "json", str(synced.output)], capture_output=True, text=True, check=True).stdout
    packets = json.loads(out)["packets"]
    keys = sorted(float(p["pts_time"]) for p in packets if "K" in p["flags"])
    last = max(float(p["pts_time"]) for p in packets) + 1 / FPS
    assert keys[0] == pytest.approx(0.0, abs=1e-6)
    assert max(b - a for a, b in zip(keys, keys[1:] + [last])) <= 2.0 + 1e-6


def test_click_and_flash_land_within_one_frame(synced):
    exe = shutil.which("ffprobe")
    assert exe and shutil.which("ffmpeg"), "the system's ffmpeg (Debian package) measures sync"
    info = json.loads(subprocess.run([exe, "-v", "error", "-show_entries", "stream=codec_type,start_time",
                                      "-of", "json", str(synced.output)], capture_output=True, text=True,
                                     check=True).stdout)
    starts = {s["codec_type"]: float(s["start_time"]) for s in info["streams"]}
    assert starts["audio"] == pytest.approx(starts["video"], abs=1e-6) == 0.0
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(synced.output), "-map", "0:v", "-vf", "scale=32:32",
                          "-f", "rawvideo", "-pix_fmt", "gray", "-"], capture_output=True, check=True).stdout
    luma = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 32 * 32).mean(axis=1)
    pcm = subprocess.run(["ffmpeg", "-v", "error", "-i", str(synced.output), "-map", "0:a", "-ac", "1",
                          "-ar", "48000", "-f", "f32le", "-"], capture_output=True, check=True).stdout
    sound = np.abs(np.frombuffer(pcm, dtype="<f4"))
    for i, at in enumerate(FLASHES):
        planned = i * SCENE_S + at                         # the scenes' lengths are given: 3 s each
        window = slice(int((planned - 0.3) * FPS), int((planned + 0.3) * FPS))
        flash = (window.start + int(np.argmax(luma[window]))) / FPS + starts["video"]
        a, b = int((planned - 0.3) * 48000), int((planned + 0.3) * 48000)
        loud = np.flatnonzero(sound[a:b] > 0.5 * sound[a:b].max())
        click = (a + loud[0]) / 48000 + starts["audio"]   # the burst's onset
        assert abs(flash - planned) <= 0.5 / FPS, (i, flash, planned)
        assert abs(click - flash) <= 1 / FPS, f"flash {i}: picture {flash:.4f} s, sound {click:.4f} s"
        # tighter than a frame: the AAC priming (1024 samples, 21 ms) is accounted for, with no edit list
        assert abs(click - planned) <= 0.005, f"click {i} at {click:.4f} s, planned {planned} s"
