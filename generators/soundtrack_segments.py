"""The soundtrack as per-scene AAC segments, each cached by the sound it holds, joined gaplessly.

A change to one scene re-encodes that scene's segment (and a neighbour only where the change
reaches into it: ducking ramps, music that shifts); the others are copied out of the cache.
The segments encode side by side on machines with cores for it.

    mix (float, all scenes) -> cut at the scenes' starts, rounded to AAC frames (1024 samples)
      -> each segment encoded with PRE_ROLL frames of the sound before it and POST_ROLL after
         (the encoder settles on the real signal; the MDCT overlap at the join is made from the
         same sound on both sides), those extra frames dropped from its ADTS stream
      -> the segments' frames concatenated: one ADTS stream, the same length and timing as one
         encode of the whole (the 1024 samples of AAC priming only at its start, as before:
         generators/encode.py PRIMING, no edit list)

The loudness gain is the whole mix's (generators/loudness.py: the balance the ducking set is
kept), in steps of GAIN_STEP dB, so a scene whose change moves the whole by less than a step
leaves the others' segments as they were; the joined stream is measured, and when it is more
than the tolerance off (or over the peak limit) every segment is encoded again with the gain
corrected (exact then), as the one-stream encode did.
"""
from __future__ import annotations

import hashlib
import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from jobmodel.errors import JobFailed

from .encode import PRIMING, encode_audio
from .loudness import (AAC_HEADROOM, MAX_GAIN, SILENT, TOLERANCE, LoudnessTarget, filter_chain, measure_file,
                       measure_samples)

FRAME = PRIMING          # samples per AAC frame (and the encoder's priming: one frame)
PRE_ROLL = 8             # frames encoded before a segment and dropped (4 left a glitch after a gain: RESULTS.md)
POST_ROLL = 2            # frames encoded after it and dropped
GAIN_STEP = 0.5          # dB: the first pass's gain is rounded to this (segments kept across small changes)
SEGMENTS_VERSION = 1     # in each segment's key: bump when the same sound would encode otherwise
PEAK = 0.98              # loudness off: the mix is scaled under this peak (as build_soundtrack did)

# a cache's get_or_create(key, ext, produce) -> path
GetOrCreate = Callable[[str, str, Callable[[Path], None]], Path]


def segment_frames(starts: list[int], total: int) -> list[tuple[int, int]]:
    """Segments as [first, end) AAC frames: one per scene (its start sample in `starts`), cut at
    the frame nearest its start; a scene shorter than a frame joins its neighbour."""
    frames = math.ceil(total / FRAME) if total > 0 else 0
    cuts = sorted({min(frames, max(0, int(round(s / FRAME)))) for s in starts} | {0})
    cuts = [c for c in cuts if c < frames] + [frames]
    return [(a, b) for a, b in zip(cuts, cuts[1:]) if b > a]


def adts_frames(data: bytes) -> list[bytes]:
    """An ADTS stream's frames, each with its header (ISO 14496-3 1.A.2: frame length in 13 bits)."""
    frames, at = [], 0
    while at + 7 <= len(data):
        if data[at] != 0xFF or data[at + 1] & 0xF6 != 0xF0:
            raise JobFailed("encoding the soundtrack failed: the AAC encoder wrote no ADTS frame")
        length = ((data[at + 3] & 0x03) << 11) | (data[at + 4] << 3) | (data[at + 5] >> 5)
        if length < 7:
            raise JobFailed("encoding the soundtrack failed: a broken ADTS frame")
        frames.append(data[at:at + length])
        at += length
    return frames


@dataclass(frozen=True)
class Segment:
    first: int    # AAC frames of the joined stream: [first, end)
    end: int

    def source(self, mix: np.ndarray) -> tuple[np.ndarray, int]:
        """The samples its encoder is fed (with the pre- and post-roll) and the frames to drop first."""
        pre = min(PRE_ROLL, self.first)
        lo = (self.first - pre) * FRAME
        return mix[lo:(self.end + POST_ROLL) * FRAME + FRAME], pre

    def key(self, mix: np.ndarray, filters: str, bitrate: str) -> str:
        from cache import make_key
        samples, pre = self.source(mix)
        digest = hashlib.md5(np.ascontiguousarray(samples, dtype="<f4").tobytes()).hexdigest()
        return make_key("soundtrack-segment", version=SEGMENTS_VERSION, sound=digest, pre=pre,
                        frames=self.end - self.first, filters=filters, bitrate=bitrate)

    def encode(self, mix: np.ndarray, filters: str, bitrate: str, out: Path, cancel=None) -> None:
        samples, pre = self.source(mix)
        whole = out.with_name(out.name + ".whole.aac")
        try:
            encode_audio(samples, whole, bitrate, filters, cancel)
            frames = adts_frames(whole.read_bytes())
        finally:
            whole.unlink(missing_ok=True)
        kept = frames[pre:pre + self.end - self.first]
        if len(kept) != self.end - self.first:
            raise JobFailed(f"encoding the soundtrack failed: {len(kept)} AAC frames for a segment of "
                            f"{self.end - self.first}")
        out.write_bytes(b"".join(kept))


@dataclass
class SegmentCounts:
    segments: int = 0
    passes: int = 0        # the soundtrack written this many times (loudness corrections)
    encoded: int = 0       # segments made, all passes together (the others came from the cache)

    def as_dict(self) -> dict:
        return {"segments": self.segments, "passes": self.passes, "encoded": self.encoded,
                "from_cache": self.segments * self.passes - self.encoded}


def segment_workers(segments: int, cores: int | None = None) -> int:
    """Segments encoded at once: one AAC encoder is one core; half the cores (the video encoder
    has the rest), at least one."""
    return max(1, min(segments, (cores or os.cpu_count() or 1) // 2))


def _step(gain_db: float) -> float:
    """`gain_db` rounded to the GAIN_STEP grid."""
    return round(round(gain_db / GAIN_STEP) * GAIN_STEP, 3)


class SegmentedSoundtrack:
    """The job's mix encoded as cached segments into one ADTS file, normalized to a target."""

    def __init__(self, mix: np.ndarray, starts: list[int], get_or_create: GetOrCreate, cancel=None):
        self.mix = mix
        self.segments = [Segment(a, b) for a, b in segment_frames(starts, len(mix))]
        self.get_or_create = get_or_create
        self.cancel = cancel
        self.counts = SegmentCounts(segments=len(self.segments))
        self._counting = threading.Lock()

    def write(self, out: Path, filters: str, bitrate: str) -> None:
        """Every segment (from the cache or encoded, side by side), joined into `out`."""
        self.counts.passes += 1
        def one(segment: Segment) -> Path:
            def produce(tmp: Path) -> None:
                segment.encode(self.mix, filters, bitrate, tmp, self.cancel)
                with self._counting:
                    self.counts.encoded += 1
            return self.get_or_create(segment.key(self.mix, filters, bitrate), ".aac", produce)
        with ThreadPoolExecutor(max_workers=segment_workers(len(self.segments)),
                                thread_name_prefix="soundtrack-segment") as pool:
            paths = list(pool.map(one, self.segments))
        with open(out, "wb") as joined:
            for path in paths:
                joined.write(Path(path).read_bytes())

    def normalized(self, out: Path, target: LoudnessTarget) -> dict:
        """`out` at `target` (what was measured and done: the report's `loudness`)."""
        mix = self.mix
        if target.integrated is None:
            peak = float(np.max(np.abs(mix))) if len(mix) else 0.0
            # under the peak as the mix was before (rounded down to a step: never louder)
            gain = math.floor(20 * math.log10(PEAK / peak) / GAIN_STEP) * GAIN_STEP if peak > PEAK else 0.0
            self.write(out, filter_chain(gain, None) if gain else "", target.bitrate)
            return {"target": "off"}
        before = measure_samples(mix, self.cancel)
        record = {"target_lufs": target.integrated, "true_peak_limit_dbtp": target.true_peak,
                  "mix": before.figures()}
        if not before.integrated > SILENT:
            self.write(out, "", target.bitrate)
            return {**record, "gain_db": 0.0, "note": "the soundtrack is silent: nothing to normalize"}
        gain = _step(min(MAX_GAIN, target.integrated - before.integrated))
        ceiling = target.true_peak - AAC_HEADROOM
        limited = before.true_peak + gain > ceiling
        passes, tried = 0, set()
        while True:
            passes += 1
            tried.add((gain, ceiling, limited))
            self.write(out, filter_chain(gain, ceiling if limited else None), target.bitrate)
            after = measure_file(out)
            over = after.true_peak - target.true_peak
            off = target.integrated - after.integrated
            if passes == 3 or (abs(off) <= TOLERANCE and over <= 0) or gain >= MAX_GAIN and over <= 0:
                break
            # corrected on the same grid, so that the next render of a job with one scene changed
            # most likely lands on the same corrections (and finds the other segments made)
            next_gain = _step(min(MAX_GAIN, gain + off)) if gain < MAX_GAIN else gain
            next_ceiling = ceiling
            if over > 0:
                next_ceiling = ceiling - GAIN_STEP * math.ceil((over + 0.2) / GAIN_STEP)
            next_limited = limited or over > 0
            if (next_gain, next_ceiling, next_limited) in tried:
                break   # the grid's nearest is what was just made
            gain, ceiling, limited = next_gain, next_ceiling, next_limited
        return {**record, "gain_db": round(gain, 2), "limited": limited,
                "limiter_ceiling_dbfs": round(ceiling, 2) if limited else None,
                "passes": passes, "encoded": after.figures()}
