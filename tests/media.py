"""Looking at rendered videos the way a user would: ffprobe, decoded frames and sound."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np

from generators.ffmpeg import ffmpeg_exe


def ffprobe(path: Path) -> dict:
    exe = shutil.which("ffprobe")
    assert exe, "ffprobe is needed by the tests (Debian package ffmpeg; .ci/run installs it)"
    out = subprocess.run([exe, "-v", "error", "-show_streams", "-show_format", "-count_frames",
                          "-of", "json", str(path)], capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def streams(info: dict, kind: str) -> list[dict]:
    return [s for s in info["streams"] if s["codec_type"] == kind]


def frames(path: Path, width: int, height: int) -> np.ndarray:
    """Every frame of a (small) video as RGB uint8 (n, h, w, 3)."""
    raw = subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(path), "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
                         capture_output=True, check=True).stdout
    return np.frombuffer(raw, dtype=np.uint8).reshape(-1, height, width, 3)


def audio(path: Path, rate: int = 16000) -> np.ndarray:
    raw = subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(path), "-vn", "-ac", "1", "-ar", str(rate),
                          "-f", "f32le", "-"], capture_output=True, check=True).stdout
    return np.frombuffer(raw, dtype="<f4")


def rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(samples, dtype=np.float64)))) if len(samples) else 0.0


def edge_density(frame: np.ndarray, top: float, bottom: float) -> float:
    """Share of strong luminance edges in a horizontal band (text makes many; a smooth picture few)."""
    h = frame.shape[0]
    band = frame[int(h * top):int(h * bottom)].astype(np.float32).mean(axis=2)
    gx = np.abs(np.diff(band, axis=1))
    return float((gx > 60).mean())
