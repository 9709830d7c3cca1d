#!/usr/bin/env python3
"""Make examples/assets/music.m4a: a soft 8-second chord loop (synthesized, no samples).

Run once; the result is committed (about 70 KB) so the examples render offline.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from generators.ffmpeg import ffmpeg_exe  # noqa: E402

RATE = 44100
CHORDS = [(220.0, 277.18, 329.63), (196.0, 246.94, 293.66), (174.61, 220.0, 261.63), (196.0, 246.94, 329.63)]


def chord_loop(seconds_per_chord: float = 2.0) -> np.ndarray:
    n = int(seconds_per_chord * RATE)
    t = np.arange(n) / RATE
    envelope = np.minimum(1.0, t / 0.3) * np.exp(-t * 0.6)
    parts = []
    for chord in CHORDS:
        tone = sum(np.sin(2 * np.pi * f * t) + 0.3 * np.sin(4 * np.pi * f * t) for f in chord)
        parts.append(tone * envelope / (len(chord) * 1.3))
    mono = np.concatenate(parts).astype(np.float32) * 0.8
    return np.stack([mono, np.roll(mono, 300)], axis=1)


def main() -> None:
    out = Path(__file__).resolve().parent / "assets" / "music.m4a"
    out.parent.mkdir(parents=True, exist_ok=True)
    pcm = (chord_loop() * 32767).astype("<i2").tobytes()
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-f", "s16le", "-ar", str(RATE), "-ac", "2", "-i", "pipe:0",
                    "-c:a", "aac", "-b:a", "64k", str(out)], input=pcm, check=True)
    print(out)


if __name__ == "__main__":
    main()
