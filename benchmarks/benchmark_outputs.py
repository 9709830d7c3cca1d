"""Issue 24's costs in `--benchmark`: loudness normalization and QC as a share of the cold render.

Called by benchmarks/offline.py right after the cold run, on that run's own output (so on the same
machine, minutes apart at most). Each of the three is measured BENCH_PUBLISH_REPEATS times (default
3), alternated, and the medians are reported with the spread (min, max):
- normalization: the cold output's soundtrack, 7 dB quieter (about where the reel's mix starts),
  through the soundtrack step's own path (generators/soundtrack_segments.py: measure, gain, the
  limiter where needed, per-scene AAC segments side by side, measure the joined stream, a
  correction when needed), against the same segments encoded plainly (no gain, no measuring:
  what the step would do without normalization); its extra cost is the difference;
- QC: the check of the cold output (protovideo/pipeline/qc.py), as the render's QC step runs it;
  beside it, what bounds it: the video decoded alone with QC's decoder options (every frame, no
  filters: what any check that decodes every frame costs at least), and the same decode of the
  reference frames only (`-skip_frame noref`: what sampling about half the frames would cost).
The segments are encoded into a throwaway cache (nothing kept, nothing reused: a cold encode).
CPU seconds are this process and its ffmpeg children (os.times), the least disturbed by other
programs; the cold run's steps `loudness` and `qc` (wall, from its report) are given beside them.
"""
from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path

TARGET_SHARE = 0.05   # issue 24: normalization and QC at most 5 % of a cold render


def _timed(work) -> tuple[float, float]:
    before, start = os.times(), time.perf_counter()
    work()
    after = os.times()
    cpu = sum(getattr(after, f) - getattr(before, f) for f in ("user", "system", "children_user", "children_system"))
    return round(time.perf_counter() - start, 3), round(cpu, 3)


class _NoCache:
    """What SegmentedSoundtrack needs of the job's cache, keeping nothing (every segment encoded)."""

    def __init__(self, folder: Path):
        self.folder = folder

    def get_meta(self, key):
        return None

    def put_meta(self, key, data) -> None:
        pass

    def get_or_create(self, key, suffix, produce):
        fd, name = tempfile.mkstemp(suffix=suffix, dir=self.folder)
        os.close(fd)
        produce(Path(name))
        return Path(name)


def _repeats() -> int:
    raw = os.environ.get("BENCH_PUBLISH_REPEATS", "").strip() or "3"
    if not raw.isdigit() or not 1 <= int(raw) <= 9:
        raise ValueError(f"BENCH_PUBLISH_REPEATS must be a whole number from 1 to 9, not {raw!r}")
    return int(raw)


def _spread(values: list[float]) -> dict:
    return {"median": round(statistics.median(values), 3), "min": round(min(values), 3),
            "max": round(max(values), 3), "all": values}


def _decode(output: Path, sampled: bool) -> int:
    """The video decoded as QC's pass decodes it, no filters (`sampled`: reference frames only);
    the frames decoded."""
    import re
    import subprocess
    from generators.ffmpeg import ffmpeg_exe
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostats", "-nostdin", "-v", "error", "-progress", "pipe:1",
           "-threads", "1", "-skip_loop_filter", "all", "-flags2", "fast",
           *(["-skip_frame", "noref"] if sampled else []), "-i", str(output), "-map", "0:v", "-f", "null", "-"]
    proc = subprocess.run(cmd, capture_output=True, check=True)
    frames = re.findall(r"^frame=(\d+)", proc.stdout.decode("ascii", "replace"), re.M)
    return int(frames[-1]) if frames else 0


def publish_costs(cold: dict, fps: int, work: Path, repeats: int | None = None) -> dict:
    from generators.audio import RATE, decode_audio
    from generators.encode import AUDIO_BITRATE
    from generators.loudness import LoudnessTarget
    from generators.soundtrack_segments import SegmentedSoundtrack
    from protovideo.pipeline.qc import QCPlan, ScenePlan, check_output
    repeats = repeats or _repeats()
    work.mkdir(parents=True, exist_ok=True)
    output = Path(cold["output"])
    mix = decode_audio(output) * 10 ** (-7 / 20)
    timeline = cold.get("timeline", [])
    starts = [round(s["start"] * RATE) for s in timeline] or [0]
    scenes = tuple(ScenePlan(s["index"], s["start"], s["start"] + s["duration"], motion="camera",
                             speech=(s["start"] + 0.25, s["start"] + 0.25 + s["narration_s"])
                             if s.get("narration_s") else None) for s in timeline)
    plan = QCPlan(fps=fps, duration=cold["video_duration"], scenes=scenes, loudness=-14.0)
    runs: dict[str, list[tuple[float, float]]] = {"plain": [], "normalized": [], "qc": [], "decode": [],
                                                  "decode_reference": []}
    decoded: dict = {}
    qc: dict = {}
    record: dict = {}
    for k in range(repeats):
        folder = work / f"round-{k}"
        folder.mkdir(exist_ok=True)

        def plain() -> None:
            SegmentedSoundtrack(mix, starts, _NoCache(folder)).write(folder / "plain.aac", 0.0, None,
                                                                       AUDIO_BITRATE, reuse=False)

        def normalized() -> None:
            record.update(SegmentedSoundtrack(mix, starts, _NoCache(folder)).normalized(
                folder / "normalized.aac", LoudnessTarget()))
        runs["plain"].append(_timed(plain))
        runs["normalized"].append(_timed(normalized))
        runs["qc"].append(_timed(lambda: qc.update(check_output(output, plan, "warn"))))
        runs["decode"].append(_timed(lambda: decoded.update(all=_decode(output, False))))
        runs["decode_reference"].append(_timed(lambda: decoded.update(reference=_decode(output, True))))
    cpu = {name: [c for _w, c in values] for name, values in runs.items()}
    wall = {name: [w for w, _c in values] for name, values in runs.items()}
    extra = [max(0.0, n - p) for n, p in zip(cpu["normalized"], cpu["plain"])]
    extra_wall = [max(0.0, n - p) for n, p in zip(wall["normalized"], wall["plain"])]
    shares = [(e + q) / cold["cpu_s"] for e, q in zip(extra, cpu["qc"])] if cold["cpu_s"] else []
    shares_wall = [(e + q) / cold["wall_s"] for e, q in zip(extra_wall, wall["qc"])] if cold["wall_s"] else []
    steps = cold.get("steps", {})
    med = statistics.median
    result = {
        "repeats": repeats,
        "normalize_cpu_s": round(med(cpu["normalized"]), 3), "plain_encode_cpu_s": round(med(cpu["plain"]), 3),
        "normalize_extra_cpu_s": round(med(extra), 3), "normalize_extra_cpu": _spread([round(x, 3) for x in extra]),
        "normalize_wall_s": round(med(wall["normalized"]), 3), "plain_encode_wall_s": round(med(wall["plain"]), 3),
        "normalize_passes": record.get("passes"), "normalized_lufs": (record.get("encoded") or {}).get("integrated_lufs"),
        "qc_cpu_s": round(med(cpu["qc"]), 3), "qc_cpu": _spread(cpu["qc"]),
        "video_decode_cpu": _spread(cpu["decode"]), "video_decode_frames": decoded.get("all"),
        "reference_decode_cpu": _spread(cpu["decode_reference"]), "reference_decode_frames": decoded.get("reference"),
        "qc_wall_s": round(med(wall["qc"]), 3), "qc_wall": _spread(wall["qc"]), "qc_passed": qc.get("passed"),
        "qc_problems": [p["message"] for p in qc.get("problems", [])][:5],
        "cold_cpu_s": cold["cpu_s"], "cold_wall_s": cold["wall_s"],
        "cold_steps_wall_s": {name: steps[name]["duration"] for name in ("loudness", "qc", "audio_mix") if name in steps},
        "share_cpu": round(med(shares), 4) if shares else None,
        "share_cpu_spread": [round(min(shares), 4), round(max(shares), 4)] if shares else None,
        "share_wall": round(med(shares_wall), 4) if shares_wall else None,
        "target_share": TARGET_SHARE,
    }
    result["met"] = result["share_cpu"] is not None and result["share_cpu"] <= TARGET_SHARE
    return result


def format_costs(costs: dict) -> str:
    low, high = costs.get("share_cpu_spread") or (costs["share_cpu"], costs["share_cpu"])
    return (f"normalization + QC (issue 24, medians of {costs.get('repeats', 1)}): "
            f"{costs['normalize_extra_cpu_s']:.2f} s CPU over a plain segmented AAC encode "
            f"({costs['normalize_cpu_s']:.2f} against {costs['plain_encode_cpu_s']:.2f}) + QC {costs['qc_cpu_s']:.2f} s CPU "
            f"({costs['qc_wall_s']:.2f} s wall) = {costs['share_cpu']:.1%} of the cold run's CPU "
            f"(spread {low:.1%}-{high:.1%}), {costs['share_wall']:.1%} of its wall; target <= "
            f"{costs['target_share']:.0%}: {'met' if costs['met'] else 'NOT met'}"
            + (f"; the video decode alone (every frame, QC's decoder options) {costs['video_decode_cpu']['median']:.2f} s CPU "
               f"= {costs['video_decode_cpu']['median'] / costs['cold_cpu_s']:.1%}, reference frames only "
               f"({costs['reference_decode_frames']} of {costs['video_decode_frames']}) "
               f"{costs['reference_decode_cpu']['median']:.2f} s" if costs.get("video_decode_cpu") else ""))
