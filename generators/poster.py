"""The poster frame: one JPEG of the finished video, from its first scene, beside the MP4.

Decoded with the shipped ffmpeg (argument list, no shell) at the middle of the
first scene, at the video's own size, into a file the cache hands out; the cache
publishes it and the renderer copies it into place atomically, so `<name>.jpg` only
ever holds a whole picture.
"""
from __future__ import annotations

import subprocess
from pathlib import Path

from generators.ffmpeg import ffmpeg_exe
from jobmodel.errors import JobFailed


def poster_path(video: Path) -> Path:
    """OUTPUT_DIR/<name>.jpg for OUTPUT_DIR/<name>.mp4."""
    return Path(video).with_suffix(".jpg")


def write_poster(video: Path, at_seconds: float, poster: Path, quality: int = 3) -> Path:
    """Write the frame shown at `at_seconds` of `video` as a JPEG (ffmpeg -q:v `quality`,
    2 best .. 31) into `poster`, a scratch path the cache hands out (render.py's _publish),
    which the cache publishes atomically; return it."""
    poster = Path(poster)
    cmd = [ffmpeg_exe(), "-v", "error", "-y", "-nostdin", "-ss", f"{max(0.0, at_seconds):.3f}",
           "-i", str(video), "-frames:v", "1", "-an", "-sn", "-q:v", str(quality),
           "-pix_fmt", "yuvj420p", "-f", "image2", "-c:v", "mjpeg", str(poster)]
    proc = subprocess.run(cmd, capture_output=True, check=False, timeout=120)
    if proc.returncode != 0 or not poster.is_file() or poster.stat().st_size == 0:
        raise JobFailed("writing the poster frame failed: " + proc.stderr.decode("utf-8", "replace")[-500:])
    return poster


def poster_frame_in(pieces, paths: list[Path], starts: list[int], frame: int) -> tuple[int, Path, int]:
    """(index, file, frame within it) of the piece that holds `frame` of the joined video
    (`starts`: each scene's first frame; pieces in timeline order, as joined): the poster is
    decoded from that piece, beside the join instead of after it."""
    from .compose import piece_start
    for index, (piece, path) in enumerate(zip(pieces, paths)):
        first = piece_start(piece, starts)
        if first <= frame < first + piece.frames:
            return index, Path(path), frame - first
    raise JobFailed(f"the poster's frame {frame} is in no piece of the video")
