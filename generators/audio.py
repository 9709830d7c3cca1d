"""Audio: decode any asset with ffmpeg, build the job's soundtrack, duck music under speech."""
from __future__ import annotations

import subprocess
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from protovideo.errors import JobFailed

from .ffmpeg import ffmpeg_exe

RATE = 44100
CHANNELS = 2


def decode_audio(path: Path, rate: int = RATE, channels: int = CHANNELS,
                 max_seconds: float | None = None, what: str = "audio") -> np.ndarray:
    """Any audio (or video with sound) -> float32 array (samples, channels)."""
    cmd = [ffmpeg_exe(), "-v", "error", "-nostdin", "-i", str(path)]
    if max_seconds:
        cmd += ["-t", f"{max_seconds:.3f}"]
    cmd += ["-vn", "-ac", str(channels), "-ar", str(rate), "-f", "f32le", "-"]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
    if proc.returncode != 0:
        detail = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise JobFailed(f"cannot decode {what} {Path(path).name}: {detail[-1] if detail else 'ffmpeg failed'}")
    data = np.frombuffer(proc.stdout, dtype="<f4")
    return data.reshape(-1, channels).copy()


@dataclass(frozen=True)
class Placement:
    path: Path          # narration or scene music file
    start: float        # seconds into the video
    gain: float = 1.0
    length: float | None = None  # loop/trim to this many seconds (music); None: as is
    is_speech: bool = True


def _fit(samples: np.ndarray, n: int) -> np.ndarray:
    """Loop or trim to n samples."""
    if len(samples) == 0 or n <= 0:
        return np.zeros((max(n, 0), CHANNELS), dtype=np.float32)
    reps = int(np.ceil(n / len(samples)))
    return np.tile(samples, (reps, 1))[:n] if reps > 1 else samples[:n]


def _fade(samples: np.ndarray, seconds: float = 0.4) -> np.ndarray:
    """Fade in and out, in place."""
    n = min(len(samples) // 2, int(seconds * RATE))
    if n > 0:
        ramp = np.linspace(0.0, 1.0, n, dtype=np.float32)[:, None]
        samples[:n] *= ramp
        samples[-n:] *= ramp[::-1]
    return samples


ENVELOPE_RATE = 200  # ducking needs no sample accuracy: work at 200 Hz, then stretch


def speech_envelope(total: int, spans: list[tuple[int, int]], attack: float = 0.15,
                    release: float = 0.35) -> np.ndarray:
    """1.0 where someone speaks, 0.0 elsewhere, with smooth ramps (for ducking); float32, `total` long."""
    step = RATE // ENVELOPE_RATE
    coarse = np.zeros(total // step + 2, dtype=np.float32)
    for a, b in spans:
        coarse[max(a, 0) // step:max(min(b, total), 0) // step + 1] = 1.0
    ramp = max(1, int(max(attack, release) * ENVELOPE_RATE))
    # widen, then smooth (two box filters): the music is already down when the voice begins
    coarse = np.clip(_box(_box(coarse, ramp), ramp) * 2.0, 0, 1)
    return np.interp(np.arange(total, dtype=np.float32) / step, np.arange(len(coarse)), coarse).astype(np.float32)


def _box(signal: np.ndarray, width: int) -> np.ndarray:
    """Centered moving average in O(n) (cumulative sums)."""
    padded = np.concatenate([np.zeros(width // 2 + 1), signal.astype(np.float64), np.zeros(width)])
    sums = np.cumsum(padded)
    out = (sums[width:width + len(signal)] - sums[:len(signal)]) / width
    return out.astype(np.float32)


def build_soundtrack(total_seconds: float, placements: list[Placement], music: Path | None,
                     music_volume: float, duck_to: float = 0.3) -> np.ndarray:
    """Mix narration at its places, then scene music and background music ducked under it."""
    total = int(round(total_seconds * RATE))
    mix = np.zeros((total, CHANNELS), dtype=np.float32)
    speech_spans: list[tuple[int, int]] = []
    music_parts: list[tuple[int, np.ndarray, float]] = []
    for item in placements:
        samples = decode_audio(item.path, what="narration" if item.is_speech else "music")
        if item.length is not None:
            samples = _fade(_fit(samples, int(item.length * RATE)))
        start = int(round(item.start * RATE))
        if item.is_speech:
            end = min(total, start + len(samples))
            if end > start:
                mix[start:end] += samples[: end - start] * item.gain
                speech_spans.append((start, end))
        else:
            music_parts.append((start, samples, item.gain))
    if music is not None and music_volume > 0:
        music_parts.append((0, _fade(_fit(decode_audio(music, what="music"), total), 1.0), music_volume))
    if music_parts:
        duck = speech_envelope(total, speech_spans)
        duck *= -(1.0 - duck_to)
        duck += 1.0
        for start, samples, gain in music_parts:
            end = min(total, start + len(samples))
            if end > start:
                part = samples[: end - start]
                part *= duck[start:end, None]
                part *= gain
                mix[start:end] += part
    peak = float(np.max(np.abs(mix))) if total else 0.0
    if peak > 0.98:  # avoid clipping after the mix
        mix *= 0.98 / peak
    return mix


def write_wav_stereo(path: Path, samples: np.ndarray) -> None:
    pcm = (np.clip(samples, -1.0, 1.0) * 32767.0).astype("<i2")
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(CHANNELS)
        wav.setsampwidth(2)
        wav.setframerate(RATE)
        wav.writeframes(pcm.tobytes())


def media_duration(path: Path) -> float:
    """Duration of an audio file in seconds (decoded, so it is exact)."""
    return len(decode_audio(path, rate=8000, channels=1)) / 8000.0
