"""VMAF of the frames around piece joins against the rest of the video (issue 29, "the joins").

    python -m benchmarks.joins_quality [--scenes 5 --width 540 --height 960 --fps 30] [--json out.json]

The synthetic benchmark job (benchmarks/benchmark_support.py, crossfades) is rendered by the real
pipeline twice: losslessly (the reference: the frames the renderer makes, before any loss) and
at the level asked (`standard`). Every frame is scored with libvmaf (vmaf_v0.6.1, the ffmpeg
imageio-ffmpeg ships; frames paired by index), and frames within JOIN_FRAMES of a piece's first
frame (the pieces of generators/compose.plan_pieces, from the report's scene lengths) are the
join frames. Besides the render, the same reference frames are encoded

    one stream   once, whole, with the renderer's encoder arguments: what the frames score when
                 no encoder starts afresh (the crossfades' own difficulty)
    pieces       cut where the renderer cuts them and encoded one by one with its arguments
                 (transitions with one thread, as generators/piece_queue.py does), joined by
                 stream copy: the render's encode without the rest of the pipeline

so a change to the encoder's arguments can be judged quickly (--only-pieces).
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.benchmark_quality import Reference, lossless_reference  # noqa: E402
from benchmarks.benchmark_support import EXAMPLES, BenchShape, emit_json, machine, synthetic_job  # noqa: E402
from generators.compose import piece_start, plan_pieces  # noqa: E402
from generators.encode import COLOR_TAGS, MUX_FLAGS, encoder_for  # noqa: E402
from generators.ffmpeg import ffmpeg_exe  # noqa: E402

JOIN_FRAMES = 3   # frames on either side of a piece's first frame that count as the join's


def frame_vmaf(ref: Reference, distorted: Path, threads: int = 0) -> np.ndarray:
    """VMAF of every frame of `distorted` against the reference (paired by index)."""
    log = distorted.with_suffix(".frames.json")
    threads = threads or min(16, os.cpu_count() or 2)
    pts = f"setpts=N/({ref.fps}*TB)"
    graph = f"[0:v]{pts}[d];[1:v]{pts}[r];[d][r]libvmaf=n_threads={threads}:log_fmt=json:log_path={log}"
    cmd = [ffmpeg_exe(), "-v", "error", "-nostdin", "-i", str(distorted), "-f", "rawvideo", "-pix_fmt",
           "yuv420p", "-s", f"{ref.width}x{ref.height}", "-r", str(ref.fps), "-i", str(ref.raw),
           "-lavfi", graph, "-f", "null", "-"]
    subprocess.run(cmd, check=True, capture_output=True)
    try:
        frames = json.loads(log.read_text())["frames"]
        return np.array([f["metrics"]["vmaf"] for f in sorted(frames, key=lambda f: f["frameNum"])])
    finally:
        log.unlink(missing_ok=True)


def piece_spans(counts: list[int], fps: int, transition: str, seconds: float) -> list[tuple[int, int, str]]:
    """(first frame, frames, kind) of each piece of the timeline, in order."""
    pieces = plan_pieces(counts, fps, transition, seconds)
    starts = [0, *np.cumsum(counts).tolist()]
    return [(piece_start(p, starts), p.frames, p.kind) for p in pieces]


def join_mask(spans, total: int, width: int = JOIN_FRAMES) -> np.ndarray:
    mask = np.zeros(total, dtype=bool)
    for first, _n, _kind in spans[1:]:
        mask[max(0, first - width):min(total, first + width)] = True
    return mask


def summary(scores: np.ndarray, mask: np.ndarray, spans) -> dict:
    n = min(len(scores), len(mask))
    scores, mask = scores[:n], mask[:n]
    joins = [round(float(scores[max(0, f - JOIN_FRAMES):f + JOIN_FRAMES].min()), 2) for f, _n, _k in spans[1:]]
    return {"mean": round(float(scores.mean()), 2), "joins_mean": round(float(scores[mask].mean()), 2),
            "rest_mean": round(float(scores[~mask].mean()), 2),
            "joins_minus_rest": round(float(scores[mask].mean() - scores[~mask].mean()), 2),
            "worst_join_frame": round(float(scores[mask].min()), 2),
            "worst_other_frame": round(float(scores[~mask].min()), 2), "worst_frame_per_join": joins}


def encode_raw(ref: Reference, first: int, frames: int, args: list[str], threads: int, out: Path) -> None:
    """Frames [first, first + frames) of the reference through x264 with `args` into `out`."""
    size = ref.width * ref.height * 3 // 2
    with open(ref.raw, "rb") as raw:
        raw.seek(first * size)
        data = raw.read(frames * size)
    cmd = [ffmpeg_exe(), "-v", "error", "-y", "-nostdin", "-f", "rawvideo", "-pix_fmt", "yuv420p",
           "-s", f"{ref.width}x{ref.height}", "-r", str(ref.fps), "-i", "pipe:0", "-an", *args,
           *COLOR_TAGS, "-threads", str(threads), "-f", "mp4", str(out)]
    subprocess.run(cmd, input=data, check=True, capture_output=True)


def encode_pieces(ref: Reference, spans, args: list[str], work: Path, name: str,
                  transition_args: list[str] | None = None) -> Path:
    """The reference cut into the render's pieces, each encoded alone (transitions with one
    thread, and with `transition_args` when given), joined by stream copy."""
    parts = []
    for k, (first, frames, kind) in enumerate(spans):
        part = work / f"{name}-{k:03d}.mp4"
        transition = kind == "transition"
        encode_raw(ref, first, frames, transition_args if transition and transition_args else args,
                   1 if transition else 0, part)
        parts.append(part)
    listing = work / f"{name}.txt"
    listing.write_text("".join(f"file '{p}'\n" for p in parts), encoding="utf-8")
    out = work / f"{name}.mp4"
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-nostdin", "-f", "concat", "-safe", "0", "-i",
                    str(listing), "-c", "copy", *MUX_FLAGS, str(out)], check=True, capture_output=True)
    for part in parts:
        part.unlink()
    return out


def run(shape: BenchShape, work: Path, only_pieces: bool = False, extra_args: list[str] | None = None,
        log=print, transition_extra: list[str] | None = None) -> dict:
    from protovideo.pipeline.jobcheck import JobChecker
    from protovideo.pipeline.render import make_context, render_job
    from protovideo.runtime.settings import load_settings
    settings = load_settings({"CACHE_DIR": str(work / "cache"), "OUTPUT_DIR": str(work / "out"),
                              "REPORT_DIR": str(work / "reports"), "WORK_DIR": str(work / "work"),
                              "QC": "off"}, cwd=work, read_files=False)
    data = synthetic_job(shape, job_id="joins")
    v = data["video"]
    log("rendering the lossless reference ...")
    ref = lossless_reference(data, settings, work, cache_dir=str(work / "cache"))
    enc = encoder_for(shape.quality, shape.fps, shape.width, shape.height, prefer="libx264")
    args = [*enc.args(), *enc.bounds(), *(extra_args or [])]
    result: dict = {"date": time.strftime("%Y-%m-%d"), "machine": machine(), "shape": vars(shape),
                    "encoder_args": args, "join_frames": JOIN_FRAMES, "frames": ref.frames}
    counts = None
    if not only_pieces:
        log(f"rendering at {shape.quality} ...")
        job = JobChecker(settings).parse(data, EXAMPLES)
        rendered = render_job(job, make_context(settings, log=logging.getLogger("protovideo.benchmark")))
        counts = [s["frames"] for s in rendered.report["timeline"]]
    else:
        reports = sorted((work / "reports").glob("*.json"))
        counts = [s["frames"] for s in json.loads(reports[-1].read_text())["timeline"]]
    spans = piece_spans(counts, shape.fps, v["transition"], v["transition_duration"])
    mask = join_mask(spans, ref.frames)
    result["pieces"] = [{"first": f, "frames": n, "kind": k} for f, n, k in spans]
    if not only_pieces:
        log("scoring the render ...")
        result["render"] = summary(frame_vmaf(ref, rendered.output), mask, spans)
        log("encoding and scoring one stream ...")
        whole = work / "one-stream.mp4"
        encode_raw(ref, 0, ref.frames, args, 0, whole)
        result["one_stream"] = summary(frame_vmaf(ref, whole), mask, spans)
    log("encoding and scoring the pieces ...")
    transition_args = [*args, *transition_extra] if transition_extra else None
    result["transition_args"] = transition_args
    pieces = encode_pieces(ref, spans, args, work, "pieces", transition_args)
    result["pieces_encode"] = {**summary(frame_vmaf(ref, pieces), mask, spans), "bytes": pieces.stat().st_size}
    if not only_pieces:
        result["one_stream"]["bytes"] = whole.stat().st_size
        # the same frames, pieces against one stream: what the encoder's fresh start costs
        one, cut = frame_vmaf(ref, whole), frame_vmaf(ref, pieces)
        n = min(len(one), len(cut), len(mask))
        result["pieces_minus_one_stream"] = {
            "joins": round(float(cut[:n][mask[:n]].mean() - one[:n][mask[:n]].mean()), 2),
            "rest": round(float(cut[:n][~mask[:n]].mean() - one[:n][~mask[:n]].mean()), 2),
            "worst_frame": round(float((cut[:n] - one[:n]).min()), 2)}
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenes", type=int, default=5)
    parser.add_argument("--width", type=int, default=540)
    parser.add_argument("--height", type=int, default=960)
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--quality", default="standard")
    parser.add_argument("--work", help="folder to keep (default: a temporary one)")
    parser.add_argument("--only-pieces", action="store_true",
                        help="reuse --work's lossless reference and report; score the pieces encode only")
    parser.add_argument("--x264-extra", default="", help="extra encoder arguments, space separated")
    parser.add_argument("--transition-extra", default="", help="extra arguments for transition pieces only")
    parser.add_argument("--json", help="write the result here too")
    args = parser.parse_args(argv)
    shape = BenchShape(args.scenes, args.width, args.height, args.fps, args.quality)
    extra = args.x264_extra.split() if args.x264_extra else []
    transition_extra = args.transition_extra.split() if args.transition_extra else []
    if args.work:
        work = Path(args.work)
        work.mkdir(parents=True, exist_ok=True)
        emit_json(run(shape, work, args.only_pieces, extra, transition_extra=transition_extra), args.json)
    else:
        with tempfile.TemporaryDirectory(prefix="joins-") as tmp:
            emit_json(run(shape, Path(tmp), False, extra, transition_extra=transition_extra), args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
