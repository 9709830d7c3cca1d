"""The progress bar: at frame g of N it covers (g + 1) / N of the width (even pixels), worked out here
and measured on the frames made and in a decoded render of scenes of different lengths, through a
transition; its pieces know their place in the video, so a longer first scene remakes them all."""
from __future__ import annotations

import json

import numpy as np
import pytest

from generators.overlays import overlays_for
from generators.visual import Canvas, OverlayUse
from generators.yuv import planes
from jobmodel.errors import JobInvalid
from job_parsing import parse_job
from media import frames
from protovideo.pipeline.render import make_context, render_job
from transition_helpers import flat_frame

W, H = 270, 480


def even(x: float) -> int:
    return int(round(x / 2.0)) * 2


def bar(g: int, total: int, **params) -> np.ndarray:
    frame = flat_frame(16)
    (layer,) = overlays_for([OverlayUse("progress_bar", tuple(params.items()))], Canvas(W, H, 12, total))
    layer.draw(frame, g)
    return frame


def lit(frame: np.ndarray) -> tuple[int, int, int]:
    """(first row, one past the last row, columns) of the bar in the luma plane."""
    rows, cols = np.nonzero(planes(frame, W, H)[0] != 16)
    return int(rows.min()), int(rows.max()) + 1, int(cols.max()) + 1


def test_the_bar_covers_the_share_of_the_video_played():
    total = 48                                   # 4 s at 12 fps
    for seconds in (0.0, 1.0, 2.0, 3.5):
        g = int(seconds * 12)
        expected = even(W * (g + 1) / total)     # 2 s: frame 24, 25/48 of 270 = 140.6 -> 140
        top, bottom, length = lit(bar(g, total, color="white", height=12, position="top"))
        assert (top, length) == (0, expected), seconds
        assert bottom == max(2, even(12 * W / 1080))     # 12 px of a 1080 frame: 3 here, even: 4
    assert lit(bar(total - 1, total, height=40))[2] == W                           # full at the last frame
    assert lit(bar(24, total, height=40, position="bottom"))[:2] == (H - 10, H)    # 40 x 270/1080 = 10


def test_the_bar_has_its_colour_in_every_plane():
    frame = bar(30, 48, color="#FF0000", height=40)
    y, u, v = (p.astype(int) for p in planes(frame, W, H))
    r, g_, b = 255, 0, 0
    luma = 0.299 * r + 0.587 * g_ + 0.114 * b
    assert abs(y[:10, :100].mean() - (16 + 219 * luma / 255)) <= 1
    assert abs(u[:5, :50].mean() - (128 + 224 * (b - luma) / 1.772 / 255)) <= 1
    assert abs(v[:5, :50].mean() - (128 + 224 * (r - luma) / 1.402 / 255)) <= 1
    assert (y[10:] == 16).all() and (y[:10, even(W * 31 / 48):] == 16).all()


def test_the_job_model_checks_its_fields(tmp_path):
    job = parse_job({"scenes": [{"duration": 1}], "overlays": [{"type": "progress_bar", "colour": "gold"}]}, tmp_path)
    assert job.overlays[0].params == (("position", "top"), ("color", "gold"), ("height", 12))
    with pytest.raises(JobInvalid) as info:
        parse_job({"scenes": [{"duration": 1}], "overlays": [{"type": "progress_bar", "position": "left"}]},
                  tmp_path)
    assert info.value.field == "overlays[0].position"


def _job(tmp_path, job_id, first_seconds=2.0):
    return parse_job({"id": job_id, "video": {"width": 160, "height": 284, "fps": 12, "quality": "high",
                                              "transition": "crossfade", "transition_duration": 0.5},
                      "overlays": [{"type": "progress_bar", "color": "#00FF00", "height": 54}],
                      "scenes": [{"promptImage": "one", "duration": first_seconds, "motion": "none"},
                                 {"promptImage": "two", "duration": 3, "motion": "none"}]}, tmp_path)


def test_a_rendered_bar_grows_with_the_video_across_scenes_and_the_transition(tmp_path, make_settings):
    settings = make_settings(MEMORY_WARNING_THRESHOLD=10**7, MEMORY_CRITICAL_THRESHOLD=10**7)
    result = render_job(_job(tmp_path, "bar-a"), make_context(settings))
    video = frames(result.output, 160, 284).astype(int)
    total = 24 + 36
    assert len(video) == total
    for g in (0, 10, 21, 24, 26, 40, 59):        # 21-26: the crossfade (3 frames either side of 24)
        row = video[g, 3]                        # 54 px of 1080 at 160 wide: 8 rows
        green = (row[:, 1] > 170) & (row[:, 0] < 90)
        expected = even(160 * (g + 1) / total)
        assert abs(int(green.sum()) - expected) <= 2, (g, int(green.sum()), expected)
        assert not green[expected + 3:].any()
    assert (video[30, 12, :, 1] < 170).all()         # below the bar: no bar
    longer = render_job(_job(tmp_path, "bar-b", first_seconds=2.5), make_context(settings))
    kinds = json.loads(longer.report_path.read_text())["cache_stats"]["by_kind"]
    assert kinds["image"]["misses"] == 0 and kinds["piece"]["hits"] == 0   # every frame shows a new length
