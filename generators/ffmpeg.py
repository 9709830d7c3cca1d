"""The ffmpeg binary shipped by imageio-ffmpeg (no system ffmpeg needed), and feeding it samples."""
from __future__ import annotations

import functools
import subprocess
import tempfile

import numpy as np


@functools.lru_cache(maxsize=1)
def ffmpeg_exe() -> str:
    import imageio_ffmpeg
    return imageio_ffmpeg.get_ffmpeg_exe()


def feed_samples(cmd: list[str], samples: np.ndarray, cancel=None, chunk: int = 48000) -> tuple[int, str]:
    """Run ffmpeg `cmd` (reading raw f32le from pipe:0) with `samples` written a chunk of frames at
    a time, never copied whole; (exit code, stderr). `cancel` (a threading.Event) set: ffmpeg is
    stopped and InterruptedError raised."""
    data = np.ascontiguousarray(samples, dtype="<f4")
    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=errors)
        try:
            try:
                for a in range(0, len(data), chunk):
                    if cancel is not None and cancel.is_set():
                        raise InterruptedError("cancelled")
                    proc.stdin.write(memoryview(data[a:a + chunk]).cast("B"))
                proc.stdin.close()
            except BrokenPipeError:
                pass   # ffmpeg stopped early: its error follows
            proc.wait()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        errors.seek(0)
        return proc.returncode, errors.read().decode("utf-8", "replace")
