"""A second loudness meter, independent of the worker's (ffmpeg's ebur128 filter): pyloudnorm's
ITU-R BS.1770-4 integrated loudness, and a true peak from 4x polyphase oversampling (scipy), on
the sound of a file decoded to float."""
from __future__ import annotations

import subprocess
import wave
from pathlib import Path

import numpy as np

from generators.ffmpeg import ffmpeg_exe

RATE = 48000


def decoded(path: Path, rate: int = RATE) -> np.ndarray:
    """The file's first audio stream as float stereo (samples, 2)."""
    raw = subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(path), "-map", "0:a:0", "-ac", "2",
                          "-ar", str(rate), "-f", "f32le", "-"], capture_output=True, check=True).stdout
    return np.frombuffer(raw, dtype="<f4").reshape(-1, 2).astype(np.float64)


def integrated_lufs(samples: np.ndarray, rate: int = RATE) -> float:
    import pyloudnorm
    return float(pyloudnorm.Meter(rate).integrated_loudness(samples))


def true_peak_dbtp(samples: np.ndarray) -> float:
    from scipy.signal import resample_poly
    peak = max(float(np.max(np.abs(resample_poly(samples[:, c], 4, 1)))) for c in range(samples.shape[1]))
    return 20 * np.log10(peak) if peak > 0 else float("-inf")


def loudness_of(path: Path) -> tuple[float, float]:
    """(integrated LUFS, true peak dBTP) of a file's sound, measured here."""
    samples = decoded(path)
    return integrated_lufs(samples), true_peak_dbtp(samples)


def write_wav(path: Path, samples: np.ndarray, rate: int = RATE) -> Path:
    """Float mono or stereo samples (-1..1) to a 16-bit WAV."""
    data = samples if samples.ndim == 2 else samples[:, None]
    with wave.open(str(path), "wb") as out:
        out.setnchannels(data.shape[1])
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes((np.clip(data, -1, 1) * 32767).astype("<i2").tobytes())
    return path


def at_loudness(samples: np.ndarray, lufs: float, rate: int = RATE) -> np.ndarray:
    """`samples` scaled to `lufs` integrated (by this meter)."""
    stereo = samples if samples.ndim == 2 else np.stack([samples, samples], axis=1)
    return samples * 10 ** ((lufs - integrated_lufs(stereo, rate)) / 20)


def speech_like(seconds: float, seed: int, rate: int = RATE) -> np.ndarray:
    """Syllables of voiced sound (a buzzing 110-220 Hz source through two formants) with pauses:
    peaks and gaps like speech, mono."""
    rng = np.random.default_rng(seed)
    out = np.zeros(int(seconds * rate))
    t = 0.1
    while t < seconds - 0.3:
        length = rng.uniform(0.12, 0.3)
        n = int(length * rate)
        k = np.arange(n) / rate
        f0 = rng.uniform(110, 220)
        buzz = np.sign(np.sin(2 * np.pi * f0 * k)) * 0.3 + rng.normal(0, 0.05, n)
        voiced = sum(np.sin(2 * np.pi * f * k) * a for f, a in ((rng.uniform(400, 900), 0.6),
                                                                  (rng.uniform(1200, 2500), 0.3)))
        syllable = (buzz * 0.4 + voiced) * np.hanning(n)
        start = int(t * rate)
        out[start:start + n] += syllable
        t += length + rng.uniform(0.03, 0.25) + (0.4 if rng.random() < 0.15 else 0)
    return out
