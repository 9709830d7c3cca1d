"""Loudness: the finished soundtrack at the job's target, measured as ITU-R BS.1770 / EBU R128
integrated loudness (ffmpeg's ebur128 filter), with its true peak under a limit.

    mix (float) -> measure -> gain (the whole mix: the balance the ducking set is kept)
        -> true-peak limiter, only where the gained peaks pass the ceiling -> AAC
        -> measure the encoded AAC -> once more with the gain or ceiling corrected when it is
           more than TOLERANCE off the target or over the peak limit (AAC adds peaks)

The limiter is ffmpeg's look-ahead alimiter run at four times the rate (so inter-sample peaks
are seen, as a true-peak meter sees them), with its delay compensated (the sound stays in sync).
"""
from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from jobmodel.errors import JobFailed

from .audio import RATE
from .encode import AUDIO_BITRATE, encode_audio
from .ffmpeg import feed_samples, ffmpeg_exe

LOUDNESS_VERSION = 1     # in the soundtrack's cache key: bump when the same mix would come out otherwise
TOLERANCE = 0.5          # LU: a first encode this close to the target is kept
AAC_HEADROOM = 1.0       # dB the limiter's ceiling stays under the true-peak limit before AAC
MAX_GAIN = 30.0          # dB: a nearly silent soundtrack is not raised into its noise floor
SILENT = -69.0           # LUFS: at or below this (ebur128 says -70 for silence) nothing is gained
OVERSAMPLE = 4


@dataclass(frozen=True)
class LoudnessTarget:
    integrated: float | None = -14.0   # LUFS; None: no normalization ("off")
    true_peak: float = -1.5            # dBTP
    bitrate: str = AUDIO_BITRATE

    def identity(self) -> dict:
        return {"version": LOUDNESS_VERSION, **asdict(self)}


@dataclass(frozen=True)
class Loudness:
    integrated: float   # LUFS
    true_peak: float    # dBTP
    range: float        # LRA, LU

    def figures(self) -> dict:
        return {"integrated_lufs": _rounded(self.integrated), "true_peak_dbtp": _rounded(self.true_peak),
                "range_lu": _rounded(self.range)}


def _rounded(value: float) -> float | None:
    return round(value, 2) if math.isfinite(value) else None


_SUMMARY = re.compile(r"Summary:(?P<body>.*)", re.S)


def parse_ebur128(stderr: str) -> Loudness:
    """The figures of ffmpeg's ebur128 summary (the last one in `stderr`)."""
    found = _SUMMARY.findall(stderr)
    if not found:
        raise JobFailed("measuring loudness failed: " + stderr.strip()[-300:])
    body = found[-1]

    def value(label: str) -> float:
        match = re.search(label + r":\s+(-?(?:inf|[0-9.]+))", body)
        return float(match.group(1)) if match else float("nan")
    return Loudness(value("I"), value("Peak"), value("LRA"))


EBUR128 = "ebur128=peak=true:framelog=quiet"


def measure_file(path: Path) -> Loudness:
    """The loudness of a file's (first) audio stream, decoded."""
    import subprocess
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostats", "-nostdin", "-v", "info", "-i", str(path),
           "-map", "0:a:0", "-af", EBUR128, "-f", "null", "-"]
    proc = subprocess.run(cmd, capture_output=True, check=False)
    return parse_ebur128(proc.stderr.decode("utf-8", "replace"))


def measure_samples(samples: np.ndarray, cancel=None, filters: str = "") -> Loudness:
    """The loudness of float stereo samples at RATE (after the filter chain `filters`, when given:
    what the encoder would be fed)."""
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostats", "-v", "info", "-f", "f32le", "-ar", str(RATE),
           "-ac", "2", "-i", "pipe:0", "-af", f"{filters},{EBUR128}" if filters else EBUR128, "-f", "null", "-"]
    _code, stderr = feed_samples(cmd, samples, cancel)
    return parse_ebur128(stderr)


def filter_chain(gain_db: float, ceiling_db: float | None) -> str:
    """volume, then (with a ceiling) the oversampled look-ahead limiter, delay compensated."""
    chain = [f"volume={gain_db:.3f}dB"]
    if ceiling_db is not None:
        limit = min(1.0, max(0.0625, 10 ** (ceiling_db / 20)))
        chain += [f"aresample={RATE * OVERSAMPLE}",
                  f"alimiter=limit={limit:.5f}:attack=2:release=60:level=disabled:latency=1",
                  f"aresample={RATE}"]
    return ",".join(chain)


def encode_normalized(mix: np.ndarray, out: Path, target: LoudnessTarget, cancel=None) -> dict:
    """Encode `mix` (float stereo at RATE) to AAC at `out`, normalized to `target`; what was
    measured and done (the report's `loudness`)."""
    if target.integrated is None:
        encode_audio(mix, out, target.bitrate, cancel=cancel)
        return {"target": "off"}
    before = measure_samples(mix, cancel)
    record = {"target_lufs": target.integrated, "true_peak_limit_dbtp": target.true_peak,
              "mix": before.figures()}
    if not before.integrated > SILENT:
        encode_audio(mix, out, target.bitrate, cancel=cancel)
        return {**record, "gain_db": 0.0, "note": "the soundtrack is silent: nothing to normalize"}
    gain = min(MAX_GAIN, target.integrated - before.integrated)
    ceiling = target.true_peak - AAC_HEADROOM
    limited = before.true_peak + gain > ceiling
    passes = 0
    while True:
        passes += 1
        encode_audio(mix, out, target.bitrate, filter_chain(gain, ceiling if limited else None), cancel)
        after = measure_file(out)
        over = after.true_peak - target.true_peak
        off = target.integrated - after.integrated
        if passes == 3 or (abs(off) <= TOLERANCE and over <= 0) or gain >= MAX_GAIN and over <= 0:
            break
        if gain < MAX_GAIN:
            gain = min(MAX_GAIN, gain + off)
        if over > 0 or limited:
            ceiling -= max(0.0, over) + (0.2 if over > 0 else 0.0)
            limited = True
    return {**record, "gain_db": round(gain, 2), "limited": limited,
            "limiter_ceiling_dbfs": round(ceiling, 2) if limited else None,
            "passes": passes, "encoded": after.figures()}
