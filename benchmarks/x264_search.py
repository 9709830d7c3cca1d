"""Search x264 settings for the quality levels by measurement (VMAF, encode CPU, size).

    python benchmarks/x264_search.py [--width 540 --height 960] [--subsample 2] [--out search.json]
        [--only veryfast:20:aq-strength=0.5,faster:16] [--candidate "slow 12 -tune film"]
        [--ref-dir /dev/shm/refs]   # keep each job's lossless frames there and reuse them

The first row of every job is `lossless` (x264 -qp 0: the reference frames themselves,
so its VMAF is the ceiling of the metric on that job: VMAF of the reference against
itself). VMAF vmaf_v0.6.1 does not reach 100 on identical frames when there is
little motion, so a level cannot be "1 point above" another one that is within
1 point of this ceiling.

Two jobs, each rendered once losslessly by the real pipeline (their frames are the
reference): the `--benchmark` reel (5 scenes: stills with slow zooms and pans,
titles, captions, crossfades) and a busier job (two video clips with fine moving
detail, two-word captions on every scene). Every candidate encodes the same raw
frames as the renderer's FrameEncoder would and is scored with libvmaf
(benchmarks/benchmark_quality.py). Cost is the ffmpeg child's CPU seconds,
so a loaded machine disturbs the comparison far less than wall time would.
Prints a table per job and writes the JSON (for benchmarks/RESULTS.md).
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from generators.ffmpeg import ffmpeg_exe  # noqa: E402
from benchmarks import benchmark_quality as bq  # noqa: E402
from benchmarks.benchmark_support import BenchShape, machine, synthetic_job  # noqa: E402
from protovideo.runtime.settings import load_settings  # noqa: E402

CANDIDATES = [  # (preset, crf, extra x264 options)
    ("medium", 23, ()), ("medium", 21, ()), ("medium", 18, ()), ("slow", 18, ()), ("slow", 17, ()),
    ("ultrafast", 24, ()), ("ultrafast", 26, ()), ("superfast", 22, ()), ("superfast", 24, ()),
    ("superfast", 19, ()), ("veryfast", 26, ()),
    ("veryfast", 17, ()), ("veryfast", 18, ()), ("veryfast", 19, ()), ("veryfast", 20, ()),
    ("faster", 18, ()), ("faster", 19, ()), ("faster", 20, ()), ("fast", 20, ()), ("fast", 21, ()),
    ("veryfast", 19, ("-tune", "stillimage")), ("veryfast", 19, ("-tune", "film")),
    ("faster", 19, ("-tune", "film")), ("veryfast", 19, ("-x264-params", "ref=3:bframes=3")),
    ("veryfast", 15, ()), ("faster", 16, ()), ("fast", 17, ()), ("medium", 16, ()),
    # toward the ceiling (high): lower CRF, slower presets, tunes, psy, AQ mode 3, a longer GOP
    ("faster", 12, ()), ("faster", 10, ()), ("medium", 12, ()), ("slow", 12, ()), ("veryslow", 12, ()),
    ("faster", 12, ("-tune", "film")), ("faster", 12, ("-tune", "grain")), ("faster", 12, ("-tune", "stillimage")),
    ("faster", 12, ("-tune", "psnr")), ("faster", 12, ("-tune", "ssim")), ("faster", 10, ("-tune", "stillimage")),
    ("faster", 12, ("-x264-params", "psy=0")), ("faster", 12, ("-x264-params", "psy-rd=1.0,0.15")),
    ("faster", 12, ("-x264-params", "aq-mode=3")), ("faster", 12, ("-x264-params", "keyint=300")),
    # around standard: knobs that move the reel (slow stills) and the busy job (clips) apart
    ("veryfast", 20, ("-x264-params", "aq-strength=0.5")), ("veryfast", 21, ("-x264-params", "aq-strength=0.5")),
    ("veryfast", 20, ("-x264-params", "aq-strength=0.5:rc-lookahead=30")),
    ("veryfast", 20, ("-x264-params", "aq-strength=0.5:subme=1")),
    ("veryfast", 20, ("-x264-params", "aq-strength=0.5:deadzone-inter=30")),
    ("veryfast", 20, ("-x264-params", "aq-strength=0.5:no-mbtree=1")),
]


def busy_job(folder: Path, shape: BenchShape) -> dict:
    """Two clips with fine moving detail and two-word captions on every scene."""
    clips = {"pattern.mp4": "testsrc2=size=640x360:rate=30:duration=4",
             "cells.mp4": "life=size=480x640:rate=30:mold=10:ratio=0.5:death_color=#203060:life_color=#f0c040"}
    for name, source in clips.items():
        subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-i", source, "-t", "4",
                        "-c:v", "libx264", "-crf", "16", "-pix_fmt", "yuv420p", str(folder / name)],
                       check=True, capture_output=True)
    lines = ["Fast cuts and busy pictures need more bits than a slow zoom.",
             "Every word on the screen is a sharp edge for the encoder.",
             "Living cells flicker in a grid of tiny squares.",
             "Still pictures rest between the busy clips."]
    scenes = [
        {"type": "video", "video": "pattern.mp4", "narration_text": lines[0], "subtitle": True},
        {"promptImage": "busy still one", "narration_text": lines[3], "subtitle": True, "motion": "pan_left",
         "text": {"content": "Busy", "position": "top", "fontsize": 96}},
        {"type": "video", "video": "cells.mp4", "narration_text": lines[2], "subtitle": True},
        {"promptImage": "busy still two", "narration_text": lines[1], "subtitle": True, "motion": "zoom_in"},
    ]
    return {"id": "busy", "video": {"width": shape.width, "height": shape.height, "fps": shape.fps,
                                    "transition": "crossfade", "transition_duration": 0.5},
            "subtitles": {"words_per_line": 2}, "scenes": scenes}


def _reference(args, job_name: str, data: dict, settings, root: Path, kwargs: dict) -> bq.Reference:
    """The job's lossless frames: rendered now, or read back from --ref-dir (same size, frames)."""
    tag = f"{job_name}-{args.width}x{args.height}-{args.fps}-{args.frames or 'all'}"
    if args.ref_dir:
        folder = Path(args.ref_dir)
        meta = folder / f"{tag}.json"
        if meta.exists():
            info = json.loads(meta.read_text())
            raw = folder / f"{tag}.yuv"
            print(f"{job_name}: reusing the lossless reference {raw}", file=sys.stderr, flush=True)
            return bq.Reference(raw, info["width"], info["height"], info["fps"], info["frames"])
    print(f"{job_name}: rendering the lossless reference ...", file=sys.stderr, flush=True)
    ref = bq.lossless_reference(data, settings, root / job_name, max_frames=args.frames or None, **kwargs)
    if args.ref_dir:
        folder.mkdir(parents=True, exist_ok=True)
        kept = folder / f"{tag}.yuv"
        shutil.move(str(ref.raw), kept)
        ref = bq.Reference(kept, ref.width, ref.height, ref.fps, ref.frames)
        meta.write_text(json.dumps({"width": ref.width, "height": ref.height, "fps": ref.fps, "frames": ref.frames}))
    return ref


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--width", type=int, default=540)
    parser.add_argument("--height", type=int, default=960)
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--subsample", type=int, default=2, help="VMAF on every n-th frame")
    parser.add_argument("--only", default="", help="comma-separated preset:crf to measure instead of "
                        "the built-in list")
    parser.add_argument("--candidate", action="append", default=[], help="'preset crf [ffmpeg args ...]', "
                        "e.g. 'slow 12 -tune film' or 'faster 14 -x264-params aq-mode=3:psy-rd=1.0,0.15' "
                        "(repeatable; added to --only or to the built-in list)")
    parser.add_argument("--ref-dir", default="", help="keep each job's lossless reference frames here and "
                        "reuse them (same frames for every run: Piper draws its timing at random)")
    parser.add_argument("--no-lossless", action="store_true", help="leave out the lossless (ceiling) row")
    parser.add_argument("--frames", type=int, default=0, help="only the first N frames of each job")
    parser.add_argument("--jobs", default="reel,busy", help="which jobs (reel, busy)")
    parser.add_argument("--out", default="")
    args = parser.parse_args()
    shape = BenchShape(5, args.width, args.height, args.fps)
    candidates = CANDIDATES
    if args.only:
        # preset:crf or preset:crf:x264-params (e.g. veryfast:21:aq-mode=0)
        candidates = [(p[0], int(p[1]), ("-x264-params", p[2]) if len(p) > 2 else ())
                      for p in (x.split(":", 2) for x in args.only.split(","))]
    if args.candidate:
        given = [(c.split()[0], int(c.split()[1]), tuple(c.split()[2:])) for c in args.candidate]
        candidates = (candidates if args.only else []) + given
    root = Path(tempfile.mkdtemp(prefix="x264-search-", dir="/dev/shm" if Path("/dev/shm").is_dir() else None))
    settings = load_settings({"LOG_FILE": "", "WORK_DIR": str(root / "work")}, read_files=False)
    result = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": machine(),
              "size": [args.width, args.height], "vmaf_subsample": args.subsample, "jobs": {}}
    try:
        busy_dir = root / "busy"
        busy_dir.mkdir()
        jobs = {"reel": (synthetic_job(shape, "reel"), None), "busy": (busy_job(busy_dir, shape), busy_dir)}
        for job_name, (data, base) in jobs.items():
            if job_name not in args.jobs.split(","):
                continue
            kwargs = {"base_dir": base} if base else {}
            ref = _reference(args, job_name, data, settings, root, kwargs)
            rows = []
            plan = [] if args.no_lossless else [("lossless (x264 -qp 0, the ceiling)", bq.level_args(bq.LOSSLESS, ref.fps))]
            plan += [(f"{preset} CRF {crf}" + (f" {' '.join(extra)}" if extra else ""),
                      bq.x264_args(preset, crf, ref.fps, extra)) for preset, crf, extra in candidates]
            for name, x264 in plan:
                row = bq.measure(ref, x264, root / "enc", name, args.subsample)
                rows.append(row)
                print(f"  {job_name:<5} {name:<40} VMAF {row['vmaf']:6.2f}  {row['cpu_s']:7.2f} CPU s  "
                      f"{row['size_mb']:7.3f} MB", file=sys.stderr, flush=True)
            if not args.ref_dir:
                ref.raw.unlink(missing_ok=True)
            result["jobs"][job_name] = {"frames": ref.frames, "seconds": round(ref.seconds, 2), "rows": rows}
    finally:
        shutil.rmtree(root, ignore_errors=True)
    text = json.dumps(result, indent=2)
    if args.out:
        Path(args.out).write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
