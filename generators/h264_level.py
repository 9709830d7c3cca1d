"""The H.264 level a picture size and frame rate need, and its bitrate ceiling.

From ITU-T H.264 Table A-1 (level limits): MaxMBPS (macroblocks per second), MaxFS (macroblocks
per frame), MaxBR and MaxCPB (kbit/s and kbit, for Baseline/Main; High profile allows 1.25x,
Table A-2). The encoder is told the level and its VBV is capped at the level's High-profile
MaxBR, so the stream stays within the level it claims (a player that decodes the level decodes
the file); a platform with a lower bitrate cap lowers that ceiling.
"""
from __future__ import annotations

from dataclasses import dataclass

# level: (MaxMBPS, MaxFS, MaxBR kbit/s, MaxCPB kbit)
LEVELS = (
    ("1", 1485, 99, 64, 175), ("1.1", 3000, 396, 192, 500), ("1.2", 6000, 396, 384, 1000),
    ("1.3", 11880, 396, 768, 2000), ("2", 11880, 396, 2000, 2000), ("2.1", 19800, 792, 4000, 4000),
    ("2.2", 20250, 1620, 4000, 4000), ("3", 40500, 1620, 10000, 10000),
    ("3.1", 108000, 3600, 14000, 14000), ("3.2", 216000, 5120, 20000, 20000),
    ("4", 245760, 8192, 20000, 25000), ("4.1", 245760, 8192, 50000, 62500),
    ("4.2", 522240, 8704, 50000, 62500), ("5", 589824, 22080, 135000, 135000),
    ("5.1", 983040, 36864, 240000, 240000), ("5.2", 2073600, 36864, 240000, 240000),
)
HIGH_FACTOR = 1.25   # Table A-2: cpbBrVclFactor 1250 for High against 1000 for Baseline/Main


@dataclass(frozen=True)
class Level:
    name: str          # e.g. "4"
    max_kbps: int      # High-profile MaxBR
    cpb_kbits: int     # High-profile MaxCPB


def level_for(width: int, height: int, fps: int) -> Level:
    """The lowest level whose frame size and macroblock rate fit (each side at most
    sqrt(8 * MaxFS) macroblocks, A.3.1); the highest level when nothing smaller does."""
    mbs_w, mbs_h = -(-width // 16), -(-height // 16)
    frame = mbs_w * mbs_h
    for name, mbps, max_fs, br, cpb in LEVELS:
        side = (8 * max_fs) ** 0.5
        if frame <= max_fs and frame * fps <= mbps and mbs_w <= side and mbs_h <= side:
            return Level(name, int(br * HIGH_FACTOR), int(cpb * HIGH_FACTOR))
    name, _mbps, _fs, br, cpb = LEVELS[-1]
    return Level(name, int(br * HIGH_FACTOR), int(cpb * HIGH_FACTOR))
