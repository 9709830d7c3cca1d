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
kept). Where the limiter is needed, the loudness it takes off is measured on the float mix (the
gain and limiter as the encoder applies them, no AAC between) and the gain made up before
anything is encoded: one AAC pass, where the one-stream encode measured each AAC encode and
encoded again (two or three passes for narration gained into the limiter). A changed scene moves
the whole's gain a little: a segment whose sound is unchanged and whose last encode was made at a
gain within REUSE_DB of the new one is kept as it is (so the result depends on what the cache
holds, by at most REUSE_DB per segment). The joined stream is measured: more than the tolerance
off the target, or over the peak limit (AAC adds peaks), every segment is encoded again with the
gain or the ceiling corrected.
"""
from __future__ import annotations

import hashlib
import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cache import make_key
from jobmodel.errors import JobFailed

from .encode import PRIMING, encode_audio
from .loudness import (MAX_GAIN, SILENT, TOLERANCE, LoudnessTarget, filter_chain,
                       measure_file, measure_samples)

FRAME = PRIMING          # samples per AAC frame (and the encoder's priming: one frame)
PRE_ROLL = 8             # frames encoded before a segment and dropped (4 left a glitch after a gain: RESULTS.md)
POST_ROLL = 2            # frames encoded after it and dropped
GAIN_STEP = 0.5          # dB: loudness off, a gain under the peak is rounded down to this
REUSE_DB = 1.0           # dB: a segment made at a gain this close to the one asked is kept (the joined
                         # stream is still measured: more than TOLERANCE off, every segment is made again)
HEADROOM = 1.6           # dB the limiter's ceiling starts under the true-peak limit: AAC added 1.4 dB over
                         # it on the benchmark job's narration and music (1.0, loudness.AAC_HEADROOM,
                         # made a second pass at a lower ceiling there, every segment encoded twice)
CLOSE = 0.1              # LU: the limited float mix this close to the target needs no more gain
SEGMENTS_VERSION = 1     # in each segment's key: bump when the same sound would encode otherwise
PEAK = 0.98              # loudness off: the mix is scaled under this peak (as build_soundtrack did)


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

    def family(self, mix: np.ndarray, ceiling: float | None, bitrate: str) -> str:
        """What the segment is made of but its gain: its sound (pre- and post-roll included), the
        limiter's ceiling (None: none) and the bitrate."""
        samples, pre = self.source(mix)
        digest = hashlib.md5(np.ascontiguousarray(samples, dtype="<f4").tobytes()).hexdigest()
        return make_key("soundtrack-segment-family", version=SEGMENTS_VERSION, sound=digest, pre=pre,
                        frames=self.end - self.first, ceiling=ceiling, bitrate=bitrate)

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
    gain_kept: int = 0     # segments taken from the cache at a gain within REUSE_DB of the one asked

    def as_dict(self) -> dict:
        return {"segments": self.segments, "passes": self.passes, "encoded": self.encoded,
                "from_cache": self.segments * self.passes - self.encoded, "gain_kept": self.gain_kept}


def segment_workers(segments: int, cores: int | None = None) -> int:
    """Segments encoded at once: one AAC encoder is one core; half the cores (the video encoder
    has the rest), at least one."""
    return max(1, min(segments, (cores or os.cpu_count() or 1) // 2))


class SegmentedSoundtrack:
    """The job's mix encoded as cached segments into one ADTS file, normalized to a target.
    `cache`: the job's artifact cache (get_or_create, get_meta, put_meta)."""

    def __init__(self, mix: np.ndarray, starts: list[int], cache, cancel=None):
        self.mix = mix
        self.segments = [Segment(a, b) for a, b in segment_frames(starts, len(mix))]
        self.cache = cache
        self.cancel = cancel
        self.counts = SegmentCounts(segments=len(self.segments))
        self._counting = threading.Lock()

    def write(self, out: Path, gain: float, ceiling: float | None, bitrate: str, reuse: bool = True) -> None:
        """Every segment at `gain` dB (limited under `ceiling` dBFS; None: no limiter), from the
        cache or encoded side by side, joined into `out`. `reuse`: a segment of the same sound made
        at a gain within REUSE_DB of `gain` (the last exact one made) is taken as it is."""
        self.counts.passes += 1

        def one(segment: Segment) -> Path:
            family = segment.family(self.mix, ceiling, bitrate)
            used = gain
            made = self.cache.get_meta(family) if reuse else None
            if made is not None and abs(float(made.get("gain_db", math.inf)) - gain) <= REUSE_DB:
                used = float(made["gain_db"])
            filters = filter_chain(used, ceiling) if used or ceiling is not None else ""

            def produce(tmp: Path) -> None:
                segment.encode(self.mix, filters, bitrate, tmp, self.cancel)
                with self._counting:
                    self.counts.encoded += 1
            path = self.cache.get_or_create(make_key("soundtrack-segment", family=family, gain=used), ".aac", produce)
            if used == gain:
                self.cache.put_meta(family, {"gain_db": gain})
            else:
                with self._counting:
                    self.counts.gain_kept += 1
            return path
        with ThreadPoolExecutor(max_workers=segment_workers(len(self.segments)),
                                thread_name_prefix="soundtrack-segment") as pool:
            paths = list(pool.map(one, self.segments))
        with open(out, "wb") as joined:
            for path in paths:
                joined.write(Path(path).read_bytes())

    def _gain(self, before, target: LoudnessTarget) -> tuple[float, float, bool, int]:
        """(gain dB, limiter ceiling dBFS, limited, measurements): where the limiter is needed,
        what it takes off is measured on the float mix (gain and limiter as the encoder applies
        them, no AAC) and the gain raised to make up for it, before anything is encoded."""
        ceiling = target.true_peak - HEADROOM
        gain = round(min(MAX_GAIN, target.integrated - before.integrated), 2)
        if before.true_peak + gain <= ceiling:
            return gain, ceiling, False, 0     # no limiter: the mix gets exactly the gain
        points: list[tuple[float, float]] = []     # (gain, loudness after the limiter)
        while len(points) < 4:
            loud = measure_samples(self.mix, self.cancel, filter_chain(gain, ceiling)).integrated
            points.append((gain, loud))
            off = target.integrated - loud
            if abs(off) <= CLOSE or gain >= MAX_GAIN:
                break
            # the limiter flattens the curve: the slope of the last two points (secant), else 2/3
            slope = 2 / 3
            if len(points) > 1 and points[-1][0] != points[-2][0]:
                slope = (points[-1][1] - points[-2][1]) / (points[-1][0] - points[-2][0])
            gain = round(min(MAX_GAIN, gain + off / min(1.0, max(0.2, slope))), 2)
        gain = min(points, key=lambda p: abs(target.integrated - p[1]))[0]
        measured = len(points)
        return gain, ceiling, True, measured

    def normalized(self, out: Path, target: LoudnessTarget) -> dict:
        """`out` at `target` (what was measured and done: the report's `loudness`)."""
        mix = self.mix
        if target.integrated is None:
            peak = float(np.max(np.abs(mix))) if len(mix) else 0.0
            # under the peak as the mix was before (rounded down to a step: never louder)
            gain = math.floor(20 * math.log10(PEAK / peak) / GAIN_STEP) * GAIN_STEP if peak > PEAK else 0.0
            self.write(out, gain, None, target.bitrate, reuse=False)
            return {"target": "off"}
        before = measure_samples(mix, self.cancel)
        record = {"target_lufs": target.integrated, "true_peak_limit_dbtp": target.true_peak,
                  "mix": before.figures()}
        if not before.integrated > SILENT:
            self.write(out, 0.0, None, target.bitrate, reuse=False)
            return {**record, "gain_db": 0.0, "note": "the soundtrack is silent: nothing to normalize"}
        gain, ceiling, limited, measured = self._gain(before, target)
        passes, reuse = 0, True
        while True:
            passes += 1
            self.write(out, gain, ceiling if limited else None, target.bitrate, reuse)
            after = measure_file(out)
            over = after.true_peak - target.true_peak
            off = target.integrated - after.integrated
            if passes == 3 or (abs(off) <= TOLERANCE and over <= 0) or gain >= MAX_GAIN and over <= 0:
                break
            reuse = False   # a correction is every segment's
            if gain < MAX_GAIN:
                gain = round(min(MAX_GAIN, gain + off), 2)
            if over > 0 or limited:
                ceiling = round(ceiling - max(0.0, over) - (0.2 if over > 0 else 0.0), 2)
                limited = True
        return {**record, "gain_db": round(gain, 2), "limited": limited,
                "limiter_ceiling_dbfs": round(ceiling, 2) if limited else None,
                "passes": passes, "limiter_measurements": measured, "encoded": after.figures()}
