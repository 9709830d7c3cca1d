"""Picture quality for the benchmark: VMAF, encode CPU, size and speed per x264 setting.

    ref = lossless_reference(job_data, settings, root)        # the job's own frames, lossless
    row = measure(ref, ["-c:v", "libx264", "-preset", "veryfast", "-crf", "18", ...])

The reference is the job rendered by the real pipeline with a lossless encoder
(x264 -qp 0), decoded once to raw I420 frames: exactly the frames the renderer
makes, before any loss. Each setting then encodes those raw frames the way the
renderer's FrameEncoder does (same pixel format, GOP, threads), and is scored with
the libvmaf filter of the ffmpeg that imageio-ffmpeg ships (model vmaf_v0.6.1,
the mean over frames). Encode cost is CPU seconds (user + system of the ffmpeg
child), which other programs on the machine disturb far less than wall time;
wall time and x realtime are reported too.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from generators.encode import LOSSLESS, EncoderSettings, encoder_for
from generators.ffmpeg import ffmpeg_exe
from benchmarks.benchmark_support import EXAMPLES, cpu_seconds, timed_encode

MOVIEPY_ARGS = ("medium", 23)   # moviepy's write_videofile: libx264, preset medium, x264's default CRF


@dataclass(frozen=True)
class Reference:
    raw: Path          # I420 frames, one after the other
    width: int
    height: int
    fps: int
    frames: int

    @property
    def seconds(self) -> float:
        return self.frames / self.fps


def x264_args(preset: str, crf: int, fps: int, extra: tuple[str, ...] = ()) -> list[str]:
    """The renderer's x264 arguments for a preset and CRF (EncoderSettings.args), plus extras."""
    return [*EncoderSettings("libx264", preset, crf, fps, 16, 16).args(), *extra]


def level_args(level: str, fps: int) -> list[str]:
    """The x264 arguments a quality level renders with; for LOSSLESS, x264 -qp 0: the reference
    frames themselves, whose VMAF is the metric's ceiling on the job."""
    return encoder_for(level, fps, 16, 16, prefer="libx264").args()


def lossless_reference(data: dict, settings, root: Path, base_dir: Path = EXAMPLES,
                       max_frames: int | None = None, cache_dir: str | None = None) -> Reference:
    """Render `data` with the real pipeline, losslessly, and decode its frames to a raw file.
    `cache_dir`: the cache of an earlier render of the job, so that its narration (Piper
    draws its timing at random) and with it every scene's length are the same."""
    from protovideo.pipeline.jobcheck import JobChecker
    from protovideo.pipeline.render import make_context, render_job
    job = JobChecker(settings).parse(data, base_dir)
    job = dataclasses.replace(job, video=dataclasses.replace(job.video, quality="lossless"))
    run = settings.replace(CACHE_DIR=cache_dir or str(root / "cache-lossless"), OUTPUT_DIR=str(root / "lossless"),
                           REPORT_DIR=str(root / "reports"), WORK_DIR=str(root / "work"),
                           CACHE_ENABLED=True, REDIS_URL="")
    result = render_job(job, make_context(run, log=logging.getLogger("protovideo.benchmark")),
                        replace=True)   # each level renders the job again on purpose
    v = job.video
    return reference_from_video(result.output, root / f"{job.id}.yuv", v.width, v.height, v.fps, max_frames)


def reference_from_video(video: Path, raw: Path, width: int, height: int, fps: int,
                         max_frames: int | None = None) -> Reference:
    """Decode a (lossless) video's frames to a raw I420 file: the reference to score against."""
    cmd = [ffmpeg_exe(), "-v", "error", "-y", "-nostdin", "-i", str(video), "-map", "0:v:0",
           "-fps_mode", "passthrough"]   # every frame once, none repeated to fill the audio's length
    if max_frames:
        cmd += ["-frames:v", str(max_frames)]
    subprocess.run([*cmd, "-f", "rawvideo", "-pix_fmt", "yuv420p", str(raw)], check=True, capture_output=True)
    frames = raw.stat().st_size // (width * height * 3 // 2)
    return Reference(raw, width, height, fps, int(frames))


def _raw_input(ref: Reference) -> list[str]:
    return ["-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", f"{ref.width}x{ref.height}",
            "-r", str(ref.fps), "-i", str(ref.raw)]


def frame_count(video: Path) -> int:
    """Frames in the video's first video stream, decoded and counted (one framecrc line each)."""
    out = subprocess.run([ffmpeg_exe(), "-v", "error", "-nostdin", "-i", str(video), "-map", "0:v:0",
                          "-fps_mode", "passthrough", "-f", "framecrc", "-"], check=True, capture_output=True, text=True)
    return sum(1 for line in out.stdout.splitlines() if line and not line.startswith("#"))


def encode(ref: Reference, args: list[str], out: Path) -> dict:
    """Encode the reference frames with `args` (threads as the renderer's one encoder)."""
    wall, cpu = timed_encode(ref.raw, "yuv420p", ref.width, ref.height, ref.fps, args, out)
    return {"cpu_s": round(cpu, 3), "wall_s": round(wall, 3), "bytes": out.stat().st_size,
            "x_realtime": round(ref.seconds / wall, 2) if wall else None,
            "x_realtime_cpu": round(ref.seconds / cpu, 2) if cpu else None}


def vmaf(ref: Reference, distorted: Path, subsample: int = 1, threads: int = 0) -> float:
    """Mean VMAF (vmaf_v0.6.1) of `distorted` against the reference frames."""
    log = distorted.with_suffix(".vmaf.json")
    threads = threads or min(16, os.cpu_count() or 2)   # every core (the score does not depend on it)
    # frames are paired by their index, not their timestamps: a file joined by stream copy (our
    # output) has non-monotonic timestamps at the joins, and pairing by them put frames of the
    # last pieces beside their neighbours (VMAF 35-75 there; the mean 0.4-1.6 too low)
    pts = f"setpts=N/({ref.fps}*TB)"
    graph = (f"[0:v]{pts}[d];[1:v]{pts}[r];[d][r]libvmaf="
             f"n_threads={threads}:n_subsample={subsample}:log_fmt=json:log_path={log}")
    cmd = [ffmpeg_exe(), "-v", "error", "-nostdin", "-i", str(distorted), *_raw_input(ref),
           "-lavfi", graph, "-f", "null", "-"]
    subprocess.run(cmd, check=True, capture_output=True)
    try:
        pooled = json.loads(log.read_text())["pooled_metrics"]["vmaf"]
        return round(float(pooled["mean"]), 2)
    finally:
        log.unlink(missing_ok=True)


def measure(ref: Reference, args: list[str], work: Path, name: str, subsample: int = 1) -> dict:
    """Encode, score and size one setting; the encoded file is removed."""
    work.mkdir(parents=True, exist_ok=True)
    out = work / (re.sub(r"[^A-Za-z0-9_-]+", "_", name) + ".mp4")   # no ':' in a filter argument
    try:
        row = encode(ref, args, out)
        cpu0 = os.times()
        row["vmaf"] = vmaf(ref, out, subsample=subsample)
        row["vmaf_cpu_s"] = round(cpu_seconds(cpu0, os.times()), 2)
    finally:
        out.unlink(missing_ok=True)
    row["size_mb"] = round(row["bytes"] / 2**20, 3)
    row["name"], row["args"] = name, args
    return row


LOSSLESS_ROW = "lossless (x264 -qp 0)"
MOVIEPY_ROW = "moviepy (medium CRF 23)"


def quality_table(ref: Reference, work: Path, subsample: int = 1, log=print) -> dict:
    """Each quality level, the straightforward render's setting and the lossless ceiling on these
    frames, with the ratios the issue's targets are stated in.

    The lossless row is the reference itself (x264 -qp 0 decodes to the very same frames), so
    its VMAF is the most any setting can score on this job: vmaf_v0.6.1 gives identical frames
    less than 100 where there is little motion. `high` can be 1 point above `standard` only
    where standard sits at least 1 point below this ceiling."""
    rows = {}
    plan = [(LOSSLESS_ROW, level_args(LOSSLESS, ref.fps))]
    plan += [(level, level_args(level, ref.fps)) for level in ("draft", "standard", "high")]
    plan.append((MOVIEPY_ROW, x264_args(*MOVIEPY_ARGS, ref.fps)))
    for name, args in plan:
        rows[name] = measure(ref, args, work, name, subsample)
        r = rows[name]
        log(f"  {name:<24} VMAF {r['vmaf']:6.2f}  {r['cpu_s']:7.2f} CPU s  {r['size_mb']:7.2f} MB  "
            f"{r['x_realtime']:5.2f}x realtime")
    base = rows[MOVIEPY_ROW]
    std, high, draft, ceiling = rows["standard"], rows["high"], rows["draft"], rows[LOSSLESS_ROW]
    ratios = {
        "standard_vmaf_minus_moviepy": round(std["vmaf"] - base["vmaf"], 2),
        "standard_cpu_over_moviepy": round(std["cpu_s"] / base["cpu_s"], 3),
        "standard_size_over_moviepy": round(std["bytes"] / base["bytes"], 3),
        "high_vmaf_minus_standard": round(high["vmaf"] - std["vmaf"], 2),
        "ceiling_vmaf_minus_standard": round(ceiling["vmaf"] - std["vmaf"], 2),
        "ceiling_vmaf_minus_high": round(ceiling["vmaf"] - high["vmaf"], 2),
        "draft_speedup_over_medium": round(base["cpu_s"] / draft["cpu_s"], 2),
        "equal_quality_speedup_over_moviepy": round(base["cpu_s"] / std["cpu_s"], 2),
    }
    targets = {
        "standard within 0.3 VMAF of medium CRF 23": ratios["standard_vmaf_minus_moviepy"] >= -0.3,
        "standard encode CPU <= 45% of medium CRF 23": ratios["standard_cpu_over_moviepy"] <= 0.45,
        "standard size <= 1.5x medium CRF 23": ratios["standard_size_over_moviepy"] <= 1.5,
        "high >= 1 VMAF above standard": ratios["high_vmaf_minus_standard"] >= 1.0,
        "draft >= 5x faster than medium (CPU)": ratios["draft_speedup_over_medium"] >= 5.0,
    }
    return {"frames": ref.frames, "seconds": round(ref.seconds, 2), "size": [ref.width, ref.height],
            "vmaf_subsample": subsample, "rows": rows, "ratios": ratios, "targets": targets}


def format_quality(table: dict) -> str:
    lines = [f"quality ({table['size'][0]}x{table['size'][1]}, {table['frames']} frames, VMAF vs the "
             "lossless frames; encode CPU s of x264 on the same raw frames)",
             f"{'setting':<26}{'VMAF':>7}{'CPU s':>9}{'MB':>8}{'x realtime':>12}"]
    for name, r in table["rows"].items():
        lines.append(f"{name:<26}{r['vmaf']:>7.2f}{r['cpu_s']:>9.2f}{r['size_mb']:>8.2f}{r['x_realtime']:>12.2f}")
    lines.append("ratios: " + ", ".join(f"{k} {v}" for k, v in table["ratios"].items()))
    for name, met in table["targets"].items():
        lines.append(f"target {name}: {'met' if met else 'NOT met'}")
    return "\n".join(lines)
