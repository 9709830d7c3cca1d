"""Audio: decode any asset with ffmpeg, build the job's soundtrack, duck music and the sound
of video clips under speech."""
from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from jobmodel.errors import JobFailed

from .ffmpeg import ffmpeg_exe

RATE = 48000   # the soundtrack is mixed at the rate it is published in (AAC-LC 48 kHz)
CHANNELS = 2


def decode_audio(path: Path, rate: int = RATE, channels: int = CHANNELS,
                 max_seconds: float | None = None, what: str = "audio",
                 silent_ok: bool = False) -> np.ndarray:
    """Any audio (or video with sound) -> float32 array (samples, channels).
    `silent_ok`: a file without an audio stream (a silent clip) gives no samples."""
    cmd = [ffmpeg_exe(), "-v", "error", "-nostdin", "-i", str(path)]
    if max_seconds:
        cmd += ["-t", f"{max_seconds:.3f}"]
    cmd += ["-map", "0:a:0?"] if silent_ok else []
    cmd += ["-vn", "-ac", str(channels), "-ar", str(rate), "-f", "f32le", "-"]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
    if proc.returncode != 0 and silent_ok and b"does not contain any stream" in proc.stderr:
        return np.zeros((0, channels), dtype=np.float32)
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
    is_clip: bool = False        # a video scene's own sound (may have none; fades are short)


CHUNK = RATE * 5  # music is mixed five seconds at a time: memory stays flat for long videos
ENVELOPE_RATE = 200  # ducking needs no sample accuracy: the envelope is kept at 200 Hz
_STEP = RATE // ENVELOPE_RATE


def speech_envelope(total: int, spans: list[tuple[int, int]], attack: float = 0.15,
                    release: float = 0.35) -> np.ndarray:
    """At ENVELOPE_RATE: 1.0 where someone speaks, 0.0 elsewhere, with smooth ramps (for ducking)."""
    coarse = np.zeros(total // _STEP + 2, dtype=np.float32)
    for a, b in spans:
        coarse[max(a, 0) // _STEP:max(min(b, total), 0) // _STEP + 1] = 1.0
    ramp = max(1, int(max(attack, release) * ENVELOPE_RATE))
    # widen, then smooth (two box filters): the music is already down when the voice begins
    return np.clip(_box(_box(coarse, ramp), ramp) * 2.0, 0, 1)


def _box(signal: np.ndarray, width: int) -> np.ndarray:
    """Centered moving average in O(n) (cumulative sums)."""
    padded = np.concatenate([np.zeros(width // 2 + 1), signal.astype(np.float64), np.zeros(width)])
    sums = np.cumsum(padded)
    out = (sums[width:width + len(signal)] - sums[:len(signal)]) / width
    return out.astype(np.float32)


def _add_music(mix: np.ndarray, start: int, length: int, source: np.ndarray, gain: float,
               duck: np.ndarray, duck_to: float, fade_s: float) -> None:
    """Add `source` looped or trimmed to `length` samples at `start`, faded in and out and
    ducked where the coarse speech envelope `duck` is up; chunk by chunk."""
    length = min(length, len(mix) - start)
    if length <= 0 or len(source) == 0:
        return
    fade = max(1, min(length // 2, int(fade_s * RATE)))
    for a in range(0, length, CHUNK):
        b = min(length, a + CHUNK)
        pos = np.arange(a, b)
        part = source[pos % len(source)]
        ramp = np.minimum(np.minimum(pos + 1, length - pos) / fade, 1.0).astype(np.float32)
        ramp *= 1.0 - (1.0 - duck_to) * duck[(start + pos) // _STEP]
        ramp *= gain
        part *= ramp[:, None]
        mix[start + a:start + b] += part


def build_soundtrack(total_seconds: float, placements: list[Placement], music: Path | None,
                     music_volume: float, duck_to: float = 0.3, cancel=None,
                     under_peak: bool = True, decode=decode_audio) -> np.ndarray:
    """Mix narration at its places, then scene music and background music ducked under it.
    `cancel` (a threading.Event) set: InterruptedError before the next file is decoded.
    `under_peak`: the whole mix scaled under 0.98 where it peaks over (False: left as mixed, for a
    caller that sets the level itself; each sample then depends only on the sound around it).
    `decode`: decode_audio, or what stands for it (generators/audio_prefetch.py: decoded earlier);
    what it returns is read, never changed."""
    def check() -> None:
        if cancel is not None and cancel.is_set():
            raise InterruptedError("cancelled")

    total = int(round(total_seconds * RATE))
    mix = np.zeros((total, CHANNELS), dtype=np.float32)
    speech_spans: list[tuple[int, int]] = []
    for item in placements:
        if not item.is_speech:
            continue
        check()
        samples = decode(item.path, what="narration")
        start = int(round(item.start * RATE))
        end = min(total, start + len(samples))
        if end > start:
            mix[start:end] += samples[: end - start] * item.gain
            speech_spans.append((start, end))
    duck = speech_envelope(total, speech_spans)
    for item in placements:
        if not item.is_speech:
            check()
            seconds = item.length if item.length is not None else total_seconds
            if item.is_clip:   # decoded only as far as the scene plays it; looped like its picture
                source = decode(item.path, max_seconds=seconds + 0.1, what="video",
                                      silent_ok=True)
            else:
                source = decode(item.path, what="music")
            _add_music(mix, int(round(item.start * RATE)), int(seconds * RATE), source,
                       item.gain, duck, duck_to, 0.03 if item.is_clip else 0.4)
    if music is not None and music_volume > 0:
        _add_music(mix, 0, total, decode(music, what="music"), music_volume, duck, duck_to, 1.0)
    peak = float(np.max(np.abs(mix))) if total else 0.0
    if peak > 0.98 and under_peak:  # avoid clipping after the mix
        mix *= 0.98 / peak
    return mix


def media_duration(path: Path) -> float:
    """Duration of an audio file in seconds (decoded, so it is exact)."""
    return len(decode_audio(path, rate=8000, channels=1)) / 8000.0
