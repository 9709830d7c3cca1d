"""Issue 24's costs in `--benchmark`: loudness normalization and QC as a share of the cold render.

Called by benchmarks/offline.py right after the cold run, on that run's own output (so on the same machine, minutes apart at most):
- normalization: the cold output's soundtrack, 7 dB quieter (about where the reel's mix starts),
  encoded the way the soundtrack step does it (measure, gain, true-peak limiter, AAC, measure
  again, a correction when needed), against the plain AAC encode the step did before (its
  extra cost is the difference);
- QC: the check of the cold output (one ffmpeg pass over every frame and sample, PyAV's demux).
CPU seconds are this process and its ffmpeg children (os.times), the least disturbed by other
programs; the cold run's steps `loudness` and `qc` (wall, from its report) are given beside them.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

TARGET_SHARE = 0.05   # issue 24: normalization and QC at most 5 % of a cold render


def _timed(work) -> tuple[float, float]:
    before, start = os.times(), time.perf_counter()
    work()
    after = os.times()
    cpu = sum(getattr(after, f) - getattr(before, f) for f in ("user", "system", "children_user", "children_system"))
    return round(time.perf_counter() - start, 3), round(cpu, 3)


def publish_costs(cold: dict, fps: int, work: Path) -> dict:
    from generators.audio import decode_audio
    from generators.encode import encode_audio
    from generators.loudness import LoudnessTarget, encode_normalized
    from protovideo.pipeline.qc import QCPlan, ScenePlan, check_output
    work.mkdir(parents=True, exist_ok=True)
    output = Path(cold["output"])
    mix = decode_audio(output) * 10 ** (-7 / 20)
    plain_wall, plain_cpu = _timed(lambda: encode_audio(mix, work / "plain.aac"))
    norm_wall, norm_cpu = _timed(lambda: encode_normalized(mix, work / "normalized.aac", LoudnessTarget()))
    scenes = tuple(ScenePlan(s["index"], s["start"], s["start"] + s["duration"], motion="camera",
                             speech=(s["start"] + 0.25, s["start"] + 0.25 + s["narration_s"])
                             if s.get("narration_s") else None) for s in cold.get("timeline", []))
    plan = QCPlan(fps=fps, duration=cold["video_duration"], scenes=scenes, loudness=-14.0)
    qc: dict = {}
    qc_wall, qc_cpu = _timed(lambda: qc.update(check_output(output, plan, "warn")))
    extra_cpu = max(0.0, norm_cpu - plain_cpu)
    steps = cold.get("steps", {})
    result = {
        "normalize_cpu_s": norm_cpu, "plain_encode_cpu_s": plain_cpu, "normalize_extra_cpu_s": round(extra_cpu, 3),
        "normalize_wall_s": norm_wall, "plain_encode_wall_s": plain_wall,
        "qc_cpu_s": qc_cpu, "qc_wall_s": qc_wall, "qc_passed": qc.get("passed"),
        "cold_cpu_s": cold["cpu_s"], "cold_wall_s": cold["wall_s"],
        "cold_steps_wall_s": {name: steps[name]["duration"] for name in ("loudness", "qc", "audio_mix") if name in steps},
        "share_cpu": round((extra_cpu + qc_cpu) / cold["cpu_s"], 4) if cold["cpu_s"] else None,
        "share_wall": round((qc_wall + max(0.0, norm_wall - plain_wall)) / cold["wall_s"], 4) if cold["wall_s"] else None,
        "target_share": TARGET_SHARE,
    }
    result["met"] = result["share_cpu"] is not None and result["share_cpu"] <= TARGET_SHARE
    return result


def format_costs(costs: dict) -> str:
    return (f"normalization + QC (issue 24): {costs['normalize_extra_cpu_s']:.2f} s CPU over a plain AAC encode "
            f"({costs['normalize_cpu_s']:.2f} against {costs['plain_encode_cpu_s']:.2f}) + QC {costs['qc_cpu_s']:.2f} s CPU "
            f"({costs['qc_wall_s']:.2f} s wall) = {costs['share_cpu']:.1%} of the cold run's CPU, "
            f"{costs['share_wall']:.1%} of its wall; target <= {costs['target_share']:.0%}: "
            f"{'met' if costs['met'] else 'NOT met'}")
