"""The frames around piece joins get the quality the rest gets: the render's join frames, scored
with PSNR (the system's ffmpeg) against the lossless render's frames, are about as good as the
same frames encoded as one stream (no encoder starting afresh), and not far under the render's
other frames. (VMAF at real size: benchmarks/joins_quality.py.)"""
from __future__ import annotations

import dataclasses
import re
import subprocess
from pathlib import Path

import numpy as np

from generators.compose import piece_start, plan_pieces
from generators.encode import COLOR_TAGS, encoder_for
from job_parsing import parse_job
from protovideo.pipeline.render import make_context, render_job

W, H, FPS = 270, 480, 12
JOIN = 2   # frames each side of a piece's first frame


def psnr_per_frame(distorted: Path, reference: Path) -> np.ndarray:
    stats = distorted.with_suffix(".psnr.txt")
    pts = f"setpts=N/({FPS}*TB)"   # paired by index (a stream-copy join's time stamps are not monotonic)
    subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-i", str(distorted), "-i", str(reference),
                    "-lavfi", f"[0:v]{pts}[d];[1:v]{pts}[r];[d][r]psnr=stats_file={stats}", "-f", "null", "-"],
                   check=True, capture_output=True)
    values = [float(m.group(1)) for m in re.finditer(r"psnr_avg:([0-9.]+|inf)", stats.read_text())]
    return np.minimum(np.array(values), 99.0)


def test_join_frames_as_good_as_one_stream(make_settings, tmp_path):
    data = {"id": "joins", "video": {"width": W, "height": H, "fps": FPS, "transition": "crossfade",
                                     "transition_duration": 0.5, "quality": "standard"},
            "scenes": [{"promptImage": f"join {i}", "duration": 2.0, "motion": m}
                       for i, m in enumerate(("zoom_in", "pan_left", "zoom_out"))]}
    settings = make_settings()
    job = parse_job(data, tmp_path)
    rendered = render_job(job, make_context(settings))
    lossless = dataclasses.replace(job, id="joins-ref", output_filename="joins-ref.mp4",
                                   video=dataclasses.replace(job.video, quality="lossless"))
    reference = render_job(lossless, make_context(settings)).output
    # the lossless frames encoded as one stream with the render's own encoder arguments
    enc = encoder_for("standard", FPS, W, H, prefer="libx264")
    one = tmp_path / "one-stream.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-y", "-i", str(reference), "-map", "0:v:0",
                    "-fps_mode", "passthrough", *enc.args(), *enc.bounds(), *COLOR_TAGS, str(one)],
                   check=True, capture_output=True)
    counts = [s["frames"] for s in rendered.report["timeline"]]
    pieces = plan_pieces(counts, FPS, "crossfade", 0.5)
    starts = [0, *np.cumsum(counts).tolist()]
    firsts = [piece_start(p, starts) for p in pieces][1:]
    assert len(firsts) == 4, pieces   # three bodies, two crossfades
    ours, whole = psnr_per_frame(rendered.output, reference), psnr_per_frame(one, reference)
    assert len(ours) == len(whole) == sum(counts)
    near = np.zeros(len(ours), dtype=bool)
    for f in firsts:
        near[f - JOIN:f + JOIN] = True
    print(f"PSNR at the joins {ours[near].mean():.2f} dB (one stream {whole[near].mean():.2f}), "
          f"elsewhere {ours[~near].mean():.2f} dB (one stream {whole[~near].mean():.2f})")
    assert ours[near].mean() >= whole[near].mean() - 1.0, "the pieces' first frames are worse than one stream's"
    assert ours[near].min() >= whole[near].min() - 2.0
    assert ours[near].mean() >= ours[~near].mean() - 3.0, "the join frames are far under the rest"
