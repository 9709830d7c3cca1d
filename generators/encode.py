"""Encoding: frames piped into ffmpeg (x264 or NVENC), pieces joined by stream copy, one mux.

Every piece of a job is encoded with identical codec parameters, so pieces can
be joined with the concat demuxer without re-encoding; audio is encoded once.
"""
from __future__ import annotations

import functools
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from jobmodel.errors import JobFailed

from .audio import RATE
from .ffmpeg import feed_samples, ffmpeg_exe
from .h264_level import level_for

# video.quality -> (x264 preset, CRF, x264 params); (NVENC preset, CQ). The x264 settings were
# chosen by measurement (benchmarks/x264_search.py; RESULTS.md "Quality levels chosen by VMAF"):
#   draft     ultrafast CRF 26: previews, about 10x less encode CPU than medium CRF 23
#   standard  veryfast CRF 20, adaptive quantization at half strength: the VMAF of medium CRF 23
#             (the straightforward render's setting) at about 30-40% of its encode CPU, on the
#             reel and on a busy job (clips, captions). Without AQ (aq-mode=0), or at CRF 21 with
#             subme=1 and 30 frames of lookahead (25-31% of medium's CPU at its VMAF), files were
#             smaller or cheaper, but slow zooms over smooth backgrounds stalled (skipped blocks;
#             test_render's frames under motion)
#   high      faster CRF 14 with x264's stillimage tune (AQ 1.2, deblock -3:-3, psy-rd 2.0:0.7,
#             written out as params): within about 0.25 VMAF of the lossless ceiling on both jobs.
#             VMAF does not reach 100 on identical frames where little moves (98.0 on the reel at
#             1080x1920), so high is 0.6-1.1 above standard, not everywhere the 1 point asked.
#             CRF 12 was 0.06 VMAF higher for files 1.4x as large (26x medium CRF 23's on the reel)
QUALITY = {
    "draft": ("ultrafast", 26, "", "p1", 28),
    "standard": ("veryfast", 20, "aq-strength=0.5", "p4", 23),
    "high": ("faster", 14, "aq-strength=1.2:deblock=-3,-3:psy-rd=2.0,0.7", "p6", 19),
}
LOSSLESS = "lossless"   # not a job's level: x264 -qp 0, the benchmark's reference frames


# frames are BT.601, limited range (generators/yuv.py); say so in the stream
COLOR_TAGS = ["-colorspace", "smpte170m", "-color_range", "tv"]


@dataclass(frozen=True)
class EncoderSettings:
    codec: str      # libx264 | h264_nvenc
    preset: str
    quality: int    # CRF (x264) or CQ (NVENC)
    fps: int
    width: int
    height: int
    threads: int = 0   # encoder threads (0: ffmpeg decides); not part of the identity
    params: str = ""   # extra x264 options (-x264-params), e.g. "aq-mode=0"
    max_kbps: int = 0  # a platform's video bitrate cap (video.platform); 0: the level's own

    def limits(self) -> tuple[str, int, int]:
        """(level, VBV maxrate kbit/s, VBV buffer kbit): High within the level the size and
        rate need (generators/h264_level.py), capped lower by a platform's limit."""
        level = level_for(self.width, self.height, self.fps)
        rate = min(level.max_kbps, self.max_kbps) if self.max_kbps else level.max_kbps
        return level.name, rate, min(level.cpb_kbits, 2 * rate)

    def bounds(self) -> list[str]:
        """The level and VBV arguments for this size and rate (none for lossless)."""
        if self.quality == 0:
            return []
        level, rate, buffer = self.limits()
        return ["-level:v", level, "-maxrate", f"{rate}k", "-bufsize", f"{buffer}k"]

    def args(self) -> list[str]:
        """Codec arguments (independent of the size; bounds() adds the size's level).
        A keyframe (IDR) at least every 2 s; x264 and NVENC make closed GOPs by default."""
        gop = str(self.fps * 2)
        if self.codec == "h264_nvenc":
            return ["-c:v", "h264_nvenc", "-preset", self.preset, "-rc", "vbr", "-cq", str(self.quality),
                    "-b:v", "0", "-g", gop, "-pix_fmt", "yuv420p", "-profile:v", "high"]
        if self.quality == 0:   # lossless (High 4:4:4 Predictive, which x264 picks itself)
            return ["-c:v", "libx264", "-preset", self.preset, "-qp", "0", "-g", gop, "-pix_fmt", "yuv420p"]
        extra = ["-x264-params", self.params] if self.params else []
        return ["-c:v", "libx264", "-preset", self.preset, "-crf", str(self.quality), *extra, "-g", gop,
                "-pix_fmt", "yuv420p", "-profile:v", "high"]

    def identity(self) -> dict:
        identity = {"codec": self.codec, "preset": self.preset, "q": self.quality, "fps": self.fps,
                    "size": [self.width, self.height]}
        if self.params:
            identity["params"] = self.params
        if self.quality != 0:
            identity["limits"] = list(self.limits())
        return identity


@functools.lru_cache(maxsize=1)
def nvenc_available() -> bool:
    """ffmpeg has h264_nvenc and a test encode on the GPU works.

    Listing the encoder is not enough: on the lent H200 (2026-11-30) ffmpeg lists h264_nvenc and NVML
    reports an encoder capacity of 100, yet opening a session fails (no NVENC engine; and the
    shipped ffmpeg 9 needs driver >= 610). Then the worker encodes with x264."""
    if shutil.which("nvidia-smi") is None:
        return False
    try:
        out = subprocess.run([ffmpeg_exe(), "-hide_banner", "-encoders"], capture_output=True,
                             text=True, timeout=20).stdout
        if "h264_nvenc" not in out:
            return False
        probe = subprocess.run([ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i", "color=s=256x256:d=0.1",
                                "-c:v", "h264_nvenc", "-f", "null", "-"], capture_output=True, timeout=30)
        return probe.returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def encoder_for(quality: str, fps: int, width: int, height: int, prefer: str = "auto",
                threads: int = 0, max_kbps: int = 0) -> EncoderSettings:
    if quality == LOSSLESS:
        return EncoderSettings("libx264", "ultrafast", 0, fps, width, height, threads)
    x_preset, crf, params, nv_preset, cq = QUALITY[quality]
    if prefer == "h264_nvenc" or (prefer == "auto" and nvenc_available()):
        return EncoderSettings("h264_nvenc", nv_preset, cq, fps, width, height, threads, max_kbps=max_kbps)
    return EncoderSettings("libx264", x_preset, crf, fps, width, height, threads, params, max_kbps)


def encoder_slots(max_workers: int, cores: int | None = None) -> tuple[int, int]:
    """How many pieces to encode at once, and threads for each encoder.

    One x264 already keeps about four cores busy, and two x264 sharing two cores run
    slower than one after the other (and need twice the memory). So pieces encode in
    parallel only where there are cores for it: min(MAX_WORKERS, cores // 4) or 1 at
    once. Scenes still overlap: narration, pictures and frame making run beside the
    encoder.
    """
    cores = cores or os.cpu_count() or 1
    slots = max(1, min(max_workers, cores // 4))
    # one encoder: let x264 pick its threads (it runs more threads than cores, which keeps
    # the cores busy while frames wait on each other); several: share the cores out
    return slots, 0 if slots == 1 else max(1, cores // slots)


PIPE_BYTES = 1 << 20   # Linux's default cap for an unprivileged process (/proc/sys/fs/pipe-max-size)


def _widen_pipe(stream) -> None:
    """A 1 MB pipe instead of 64 KB: a 1080x1920 frame (3 MB) crosses in 3 writes, not 48,
    with as many fewer wake-ups of ffmpeg (about 40% less CPU in the writing thread).
    Where the system does not allow it (not Linux, a lower cap), the pipe stays as it is."""
    try:
        import fcntl
        fcntl.fcntl(stream.fileno(), getattr(fcntl, "F_SETPIPE_SZ", 1031), PIPE_BYTES)
    except (ImportError, OSError, ValueError):
        pass


class FrameEncoder:
    """Write I420 frames (generators/yuv.py) to an MP4 (video only) through an ffmpeg pipe."""

    def __init__(self, path: Path, enc: EncoderSettings):
        self.path = Path(path)
        self.frames = 0
        cmd = [ffmpeg_exe(), "-v", "error", "-y", "-nostdin", "-f", "rawvideo", "-pix_fmt", "yuv420p",
               "-s", f"{enc.width}x{enc.height}", "-r", str(enc.fps), "-i", "pipe:0", "-an",
               *enc.args(), *enc.bounds(), *COLOR_TAGS, "-threads", str(enc.threads), "-f", "mp4", str(self.path)]
        self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
        _widen_pipe(self._proc.stdin)

    def write(self, frame: np.ndarray) -> None:
        try:
            self._proc.stdin.write(memoryview(np.ascontiguousarray(frame)).cast("B"))
        except BrokenPipeError:
            self.close()
            raise
        self.frames += 1

    def end_input(self) -> None:
        """No more frames: x264 encodes what it holds (wait() for it to finish)."""
        if self._proc.stdin and not self._proc.stdin.closed:
            try:
                self._proc.stdin.close()
            except BrokenPipeError:
                pass

    def close(self) -> None:
        self.end_input()
        self.wait()

    def wait(self) -> None:
        err = self._proc.stderr.read().decode("utf-8", "replace") if self._proc.stderr else ""
        if self._proc.wait() != 0:
            raise JobFailed(f"video encoder failed: {err.strip()[-500:]}")

    def abort(self) -> None:
        self._proc.kill()
        self._proc.wait()


def _concat_list(pieces: list[Path], list_path: Path) -> None:
    lines = []
    for piece in pieces:
        escaped = str(Path(piece).resolve()).replace("'", "'\\''")
        lines.append(f"file '{escaped}'")
    list_path.write_text("\n".join(lines) + "\n", encoding="utf-8")


AUDIO_RATE = RATE        # AAC-LC 48 kHz stereo: what YouTube's and Instagram's upload specs ask for
AUDIO_BITRATE = "192k"
# The AAC encoder puts 1024 samples of priming (its delay) before the first sound. The mux
# writes no edit list to hide them (platforms ask for none), so every player plays them: the
# soundtrack is fed to the encoder without its first PRIMING samples, and the decoded sound
# at time t is the soundtrack's sound at t (it loses 21 ms of the silence before the first word).
PRIMING = 1024


def encode_audio(samples: np.ndarray, out: Path, bitrate: str = AUDIO_BITRATE, filters: str = "",
                 cancel=None) -> None:
    """Float stereo samples at AUDIO_RATE -> AAC-LC in raw ADTS at `out` (the soundtrack,
    encoded once; ADTS carries no edit list or start offset, so the mux starts it at 0).
    `filters`: an ffmpeg audio filter chain applied first (the loudness gain and limiter).
    `cancel` (a threading.Event) set while it runs: ffmpeg is stopped and InterruptedError raised."""
    cmd = [ffmpeg_exe(), "-v", "error", "-y", "-nostdin", "-f", "f32le", "-ar", str(AUDIO_RATE),
           "-ac", "2", "-i", "pipe:0", *(["-af", filters] if filters else []),
           "-c:a", "aac", "-profile:a", "aac_low", "-b:a", bitrate, "-ar", str(AUDIO_RATE), "-ac", "2",
           "-f", "adts", str(out)]
    code, stderr = feed_samples(cmd, samples[PRIMING:], cancel)
    if code != 0:
        raise JobFailed("encoding the soundtrack failed: " + stderr[-500:])


# What the platforms take as it is (YouTube's recommended upload settings, Instagram's Reels
# spec): no edit lists, `moov` before the media. B-frames delay the first picture; with negative
# composition offsets (ctts version 1) the first frame still shows at 0 without an edit list.
MUX_FLAGS = ["-use_editlist", "0", "-movflags", "+faststart+negative_cts_offsets"]


def join_and_mux(pieces: list[Path], audio: Path, output: Path, work_dir: Path) -> None:
    """Join video pieces and add the AAC soundtrack, both by stream copy, into `output`: a
    scratch path the cache hands out (render.py's _publish), which the cache publishes atomically."""
    output = Path(output)
    list_path = Path(work_dir) / "pieces.txt"
    _concat_list(pieces, list_path)
    cmd = [ffmpeg_exe(), "-v", "error", "-y", "-nostdin", "-f", "concat", "-safe", "0", "-i", str(list_path),
           "-i", str(audio), "-map", "0:v:0", "-map", "1:a:0", "-c:v", "copy", "-c:a", "copy", *MUX_FLAGS,
           "-f", "mp4", str(output)]
    proc = subprocess.run(cmd, capture_output=True, check=False)
    if proc.returncode != 0:
        raise JobFailed("joining the video failed: " + proc.stderr.decode("utf-8", "replace")[-500:])
