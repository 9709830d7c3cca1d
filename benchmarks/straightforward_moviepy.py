#!/usr/bin/env python3
"""The benchmark job rendered the straightforward way, as the original worker did, next to ours.

Straightforward (moviepy 2.x; benchmarks/benchmark_moviepy.py, which `--benchmark`
also runs, there at moviepy's own x264 setting and scored by VMAF): per scene an
ImageClip of the background with a per-frame resize zoom, a PIL-rasterized title and
subtitle lines as ImageClips, the Piper narration as an AudioFileClip; each scene
written with write_videofile; then all scenes read back, joined with crossfades and
the music, and encoded again. Here: the same x264 preset, CRF, GOP and pixel format
as our renderer at the chosen quality (equal settings, not equal VMAF), same size,
fps and AAC bitrate.

Ours: the pipeline's cold render of the same job (empty private cache), once before
and once after the straightforward render (this machine's speed drifts over minutes;
the speed-up is against their mean). Both start warm, as in a running worker: Piper
loaded, and moviepy and our pipeline each through a tiny render first; both timed
wall-clock. glibc malloc keeps its defaults here: the worker's tuning for memory
(protovideo/malloc_tuning.py, a fixed mmap threshold) would slow moviepy's per-frame
arrays by half (351 s instead of 238 s in one measurement).

    python benchmarks/straightforward_moviepy.py --scenes 5 --width 540 --height 960 --fps 30 \
        [--quality standard|high] [--json out.json] [--skip-ours]
The x264 preset and CRF come from generators.encode.QUALITY for --quality (standard is the default).
"""
from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from generators.plugins import load_all  # noqa: E402
from generators.tts import get_tts_provider  # noqa: E402
from protovideo.pipeline.jobcheck import JobChecker  # noqa: E402
from benchmarks.benchmark_moviepy import synthesize_narration, render_straightforward  # noqa: E402
from benchmarks.benchmark_support import (EXAMPLES, BenchShape, RssSampler, add_shape_arguments,  # noqa: E402
                                              emit_json, machine, synthetic_job)
from protovideo.runtime.settings import load_settings  # noqa: E402


def render_ours(shape: BenchShape, work: Path, settings, name: str = "ours") -> dict:
    from benchmarks.offline import _private_settings, _render
    with RssSampler() as sampler:
        run = _render(synthetic_job(shape, f"{name}-cold"), _private_settings(settings, work, name,
                                                                               max(2, os.cpu_count() or 1)), sampler)
    return {"wall_s": run["wall_s"], "steps": {k: v["duration"] for k, v in run["steps"].items()},
            "video_duration": run["video_duration"], "encoder": run["encoder"]}


def main(argv=None) -> int:
    load_all()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_shape_arguments(parser, scenes=5)
    parser.add_argument("--quality", choices=["draft", "standard", "high"], default="standard")
    parser.add_argument("--json", help="write the result here as JSON")
    parser.add_argument("--skip-ours", action="store_true", help="only the straightforward render")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    shape = BenchShape(args.scenes, args.width, args.height, args.fps, args.quality)
    settings = load_settings()
    base = settings.path("WORK_DIR")
    base.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="straightforward-", dir=base))
    try:
        provider = get_tts_provider("piper", settings)   # load Piper once, for both renders
        job = JobChecker(settings).parse(synthetic_job(BenchShape(1, 64, 64, 4)), EXAMPLES)
        synthesize_narration(provider, job, "Warm up.", work / "warmup.wav")
        tiny = BenchShape(1, 64, 64, 4, shape.quality)   # imports and first calls, out of the timings
        (work / "warmup").mkdir()
        render_straightforward(tiny, work / "warmup", settings)
        if not args.skip_ours:
            render_ours(tiny, work, settings, "warmup-ours")
        result = {"date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "machine": machine(),
                  "job": {"scenes": shape.scenes, "width": shape.width, "height": shape.height, "fps": shape.fps,
                          "quality": shape.quality}}
        if not args.skip_ours:
            print("ours (cold) ...", file=sys.stderr, flush=True)
            result["ours"] = render_ours(shape, work, settings)
            print(f"  {result['ours']['wall_s']:.1f} s", file=sys.stderr, flush=True)
        print("straightforward moviepy ...", file=sys.stderr, flush=True)
        result["straightforward"] = render_straightforward(shape, work, settings)
        print(f"  {result['straightforward']['wall_s']:.1f} s", file=sys.stderr, flush=True)
        if not args.skip_ours:
            print("ours (cold) again ...", file=sys.stderr, flush=True)
            result["ours_after"] = render_ours(shape, work, settings, "ours-after")
            print(f"  {result['ours_after']['wall_s']:.1f} s", file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if "ours" in result:
        ours_mean = (result["ours"]["wall_s"] + result["ours_after"]["wall_s"]) / 2
        result["ours_mean_wall_s"] = round(ours_mean, 3)
        result["speedup"] = round(result["straightforward"]["wall_s"] / ours_mean, 2)
        result["target_6x_met"] = result["speedup"] >= 6
    emit_json(result, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
