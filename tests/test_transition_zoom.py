"""zoom: at frame k the shown scene is grown about its centre by s = 1 + 0.5 ease(2p) before the
boundary and 1 + 0.5 ease(2 - 2p) after it (p = (k + 0.5) / 2h, ease the smoothstep). The scale is
measured from where marks land, in the frames made and in a decoded render."""
from __future__ import annotations

import numpy as np
from PIL import Image

from generators.yuv import planes
from transition_helpers import HALF, SCENE, VH, VW, H, W, flat_frame, made, p, render_two, smoothstep

FRAMES = 12
CX, CY = (W - 1) / 2, (H - 1) / 2
MARKS = ((CX - 60, CY - 100), (CX + 60, CY + 100))   # 10x10 white squares centred here


def expected_scale(k: int, frames_: int = FRAMES) -> float:
    q = p(k, frames_)
    return 1 + 0.5 * smoothstep(2 * q if q < 0.5 else 2 - 2 * q)


def marked(y_background: int) -> np.ndarray:
    frame = flat_frame(y_background)
    y = planes(frame, W, H)[0]
    for mx, my in MARKS:
        y[int(my - 4.5):int(my + 5.5), int(mx - 4.5):int(mx + 5.5)] = 235
    return frame


def measured_scale(frame: np.ndarray, background: int) -> float:
    """The marks' distance from the centre, against the marks' own: their centroids in each half."""
    y = planes(frame, W, H)[0].astype(float) - background
    ys, xs = np.mgrid[0:H, 0:W]
    scales = []
    for half, (mx, my) in zip((ys < CY, ys > CY), MARKS):
        weight = np.where(half, np.clip(y, 0, None), 0)
        gx, gy = (weight * xs).sum() / weight.sum(), (weight * ys).sum() / weight.sum()
        scales.append(np.hypot(gx - CX, gy - CY) / np.hypot(mx - CX, my - CY))
    return float(np.mean(scales))


def test_the_scale_at_every_frame_is_the_eased_zoom_and_it_switches_scene_at_the_boundary():
    a, b = marked(16), marked(60)           # the two scenes told apart by their background
    out = made("zoom", a, b, FRAMES)
    for k in range(FRAMES):
        background = 16 if k < FRAMES // 2 else 60
        y = planes(out[k], W, H)[0]
        assert int(np.median(y)) == background, k            # the outgoing scene, then the incoming one
        assert abs(measured_scale(out[k], background) - expected_scale(k)) < 0.01, (k, expected_scale(k))
    assert abs(expected_scale(5) - (1 + 0.5 * smoothstep(11 / 12))) < 1e-9 and expected_scale(5) > 1.49
    assert expected_scale(0) < 1.01 and expected_scale(FRAMES - 1) < 1.01


def test_a_rendered_zoom_grows_the_picture_by_the_scale(tmp_path, make_settings):
    picture = Image.new("RGB", (VW * 2, VH * 2), (200, 30, 30))
    side = VW // 2           # a white square half the picture's width, centred
    picture.paste((255, 255, 255), (VW - side // 2, VH - side // 2, VW + side // 2, VH + side // 2))
    video = render_two(tmp_path, make_settings(), "zoom", pictures=[picture, picture])
    for k in (0, 3, 5, 8):
        frame = video[SCENE - HALF + k]
        width = (frame[VH // 2, :, 1] > 160).sum()      # the square's row through the centre (green: only white)
        expected = min(VW, side / 2 * expected_scale(k, 2 * HALF))   # the picture is shown at half size
        assert abs(width - expected) <= 3, (k, width, expected)
