"""Card scenes: a colour or a two-colour gradient, its ends and middle worked out from BT.601,
in the frames made and in the decoded video; no picture is made for a card."""
from __future__ import annotations

import json

import numpy as np
import pytest

from generators.frames import SceneFrames
from generators.visual import SceneVisual, TextSpec
from generators.yuv import planes
from jobmodel.errors import JobInvalid
from job_parsing import parse_job
from media import frames
from protovideo.pipeline.render import make_context, render_job

W, H = 270, 480


def bt601(rgb) -> tuple[float, float, float]:
    """Limited-range Y, Cb, Cr of an RGB colour (ITU-R BT.601), worked out by hand."""
    r, g, b = (c / 255.0 for c in rgb)
    y = 0.299 * r + 0.587 * g + 0.114 * b
    return 16 + 219 * y, 128 + 224 * (b - y) / 1.772, 128 + 224 * (r - y) / 1.402


def card(background, direction="vertical", **kw) -> np.ndarray:
    visual = SceneVisual(width=W, height=H, fps=12, frames=4, kind="card",
                         params=(("background", background), ("direction", direction)), **kw)
    scene = SceneFrames(visual)
    try:
        return scene.frame(2).copy()
    finally:
        scene.close()


def test_a_vertical_gradient_runs_from_the_first_colour_at_the_top_to_the_second_at_the_bottom():
    red, blue = (255, 0, 0), (0, 0, 255)
    y, u, v = (p.astype(float) for p in planes(card(("#FF0000", "#0000FF")), W, H))
    assert abs(y[0].mean() - bt601(red)[0]) <= 0.6 and abs(y[-1].mean() - bt601(blue)[0]) <= 0.6
    for row in (0, 119, 240, 479):            # every row the straight mix of the two at row / (H - 1)
        t = row / (H - 1)
        expected = bt601(tuple(a + (b - a) * t for a, b in zip(red, blue)))[0]
        assert abs(y[row].mean() - expected) <= 0.8, row
        assert np.ptp(y[row]) == 0                        # no change across a row
    # chroma is half height: its first row covers frame rows 0-1, its last rows 478-479
    assert abs(u[0].mean() - bt601(red)[1]) <= 1.5 and abs(v[0].mean() - bt601(red)[2]) <= 1.5
    assert abs(u[-1].mean() - bt601(blue)[1]) <= 1.5 and abs(v[-1].mean() - bt601(blue)[2]) <= 1.5


def test_a_horizontal_gradient_runs_left_to_right_and_one_colour_fills_the_frame():
    y = planes(card(("white", "black"), "horizontal"), W, H)[0].astype(float)
    assert abs(y[:, 0].mean() - 235) <= 0.6 and abs(y[:, -1].mean() - 16) <= 0.6
    assert abs(y[:, 134].mean() - (235 - 219 * 134 / (W - 1))) <= 0.8
    assert np.ptp(y[:, 100]) == 0
    flat = planes(card(("#336699",)), W, H)
    for plane, expected in zip(flat, bt601((0x33, 0x66, 0x99))):
        assert np.abs(plane.astype(float) - expected).max() <= 1.0


def test_the_title_is_drawn_on_a_copy_every_frame_not_blended_again_and_again():
    visual = SceneVisual(width=W, height=H, fps=12, frames=6, kind="card", params=(("background", ("black",)),),
                         title=TextSpec("Thanks", "center", 48, "white"))
    scene = SceneFrames(visual)
    first, later = scene.frame(0).copy(), scene.frame(5).copy()
    scene.close()
    assert np.array_equal(first, later)
    y = planes(first, W, H)[0]
    assert (y[200:280] > 200).sum() > 100 and (y[:100] == 16).all()    # white text in the middle only


def test_the_job_model_reads_a_cards_fields(tmp_path):
    job = parse_job({"scenes": [{"type": "card", "background": ["#000", "navy"], "duration": 2, "text": "End"}]},
                    tmp_path)
    assert job.scenes[0].param("background") == ("#000", "navy") and job.scenes[0].param("direction") == "vertical"
    assert parse_job({"scenes": [{"type": "card", "duration": 1}]}, tmp_path).scenes[0].param("background") == \
        ("black",)
    for background, field in ((["red"], "scenes[0].background"), (["red", "blurple"], "scenes[0].background[1]"),
                              (7, "scenes[0].background")):
        with pytest.raises(JobInvalid) as info:
            parse_job({"scenes": [{"type": "card", "background": background, "duration": 2}]}, tmp_path)
        assert info.value.field == field
    with pytest.raises(JobInvalid, match="only for scenes of type card"):
        parse_job({"scenes": [{"background": "red", "duration": 2}]}, tmp_path)


def test_a_rendered_card_shows_its_gradient_and_its_title_and_makes_no_picture(make_settings, tmp_path):
    job = parse_job({"id": "cards", "video": {"width": 160, "height": 284, "fps": 12, "quality": "high",
                                              "transition": "cut"},
                     "scenes": [{"type": "card", "background": ["#E02020", "#2020E0"], "duration": 1,
                                 "text": {"content": "THE END", "position": "center", "fontsize": 120}}]}, tmp_path)
    result = render_job(job, make_context(make_settings()))
    video = frames(result.output, 160, 284).astype(float)
    top, bottom = video[6, 2:6, 10:150].mean(axis=(0, 1)), video[6, -6:-2, 10:150].mean(axis=(0, 1))
    assert np.abs(top - (0xE0, 0x20, 0x20)).max() < 12 and np.abs(bottom - (0x20, 0x20, 0xE0)).max() < 12, (top, bottom)
    middle = video[6, 40:200]   # the centre title lies in the middle of the frame's safe area
    assert (middle.min(axis=2) > 200).sum() > 50            # white title letters across the middle
    report = json.loads(result.report_path.read_text())
    assert "image" not in report["cache_stats"]["by_kind"] and "simple_background" not in report["steps"]
