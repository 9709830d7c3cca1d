"""The benchmark's picture-quality measure (benchmarks/benchmark_quality.py) on a tiny clip,
with the real ffmpeg and libvmaf: the lossless row is the ceiling, a bad encode scores lower."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from generators.ffmpeg import ffmpeg_exe  # noqa: E402
from benchmarks import benchmark_quality as bq  # noqa: E402

W, H, FPS, FRAMES = 192, 108, 12, 24


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> bq.Reference:
    """Moving detail (testsrc2) as raw I420 frames, the way lossless_reference leaves them."""
    raw = tmp_path_factory.mktemp("vmaf") / "ref.yuv"
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc2=size={W}x{H}:rate={FPS}",
                    "-frames:v", str(FRAMES), "-f", "rawvideo", "-pix_fmt", "yuv420p", str(raw)],
                   check=True, capture_output=True)
    assert raw.stat().st_size == W * H * 3 // 2 * FRAMES
    return bq.Reference(raw, W, H, FPS, FRAMES)


def test_a_bad_encode_scores_lower_than_a_good_one(reference, tmp_path):
    good = bq.measure(reference, bq.x264_args("veryfast", 18, FPS), tmp_path, "good")
    bad = bq.measure(reference, bq.x264_args("ultrafast", 48, FPS), tmp_path, "bad")
    assert bad["vmaf"] < good["vmaf"] - 10, (bad["vmaf"], good["vmaf"])
    assert bad["bytes"] < good["bytes"]
    for row in (good, bad):
        assert 0 <= row["vmaf"] <= 100 and row["cpu_s"] > 0 and row["x_realtime"] > 0
    assert not list(tmp_path.glob("*.mp4"))   # encoded files are removed


def test_lossless_row_is_the_reference_itself_and_the_ceiling(reference, tmp_path):
    """x264 -qp 0 gives back the very frames: decoded, they equal the reference byte for byte,
    and no lossy setting scores above it."""
    args = bq.level_args(bq.LOSSLESS, FPS)
    assert args[args.index("-qp") + 1] == "0"
    out = tmp_path / "lossless.mp4"
    bq.encode(reference, args, out)
    decoded = bq.reference_from_video(out, tmp_path / "decoded.yuv", W, H, FPS)
    assert decoded.frames == FRAMES == bq.frame_count(out)
    assert decoded.raw.read_bytes() == reference.raw.read_bytes()
    ceiling = bq.vmaf(reference, out)
    good = bq.measure(reference, bq.x264_args("medium", 23, FPS), tmp_path, "medium")
    assert ceiling >= good["vmaf"]


def test_quality_table_has_the_ceiling_row_and_its_gaps(reference, tmp_path):
    table = bq.quality_table(reference, tmp_path, subsample=2, log=lambda line: None)
    rows = table["rows"]
    assert set(rows) == {bq.LOSSLESS_ROW, "draft", "standard", "high", bq.MOVIEPY_ROW}
    ceiling = rows[bq.LOSSLESS_ROW]["vmaf"]
    assert all(ceiling >= row["vmaf"] - 0.1 for row in rows.values())   # not strictly monotone near it
    ratios = table["ratios"]
    assert ratios["ceiling_vmaf_minus_standard"] == pytest.approx(ceiling - rows["standard"]["vmaf"], abs=0.011)
    assert ratios["ceiling_vmaf_minus_high"] == pytest.approx(ceiling - rows["high"]["vmaf"], abs=0.011)
    assert rows[bq.LOSSLESS_ROW]["bytes"] > rows["standard"]["bytes"]
    assert "lossless" in bq.format_quality(table)
