"""fade_black: the outgoing scene's luma falls to black (Y 16) by the boundary and the incoming one's
rises from it, gain 1 - 2p then 2p - 1 at progress p = (k + 0.5) / 2h; chroma goes to neutral."""
from __future__ import annotations

import numpy as np

from generators.yuv import planes
from transition_helpers import HALF, SCENE, W, H, flat_frame, made, p, render_two


def test_the_luma_at_the_middle_frames_is_almost_black_and_each_side_scales_by_its_gain():
    frames_ = 12                              # h = 6
    a, b = flat_frame(200, 90, 240), flat_frame(100, 200, 60)
    out = made("fade_black", a, b, frames_)
    # the middle frames, k = 5 and 6: p = 5.5/12 and 6.5/12, gain 1/12 from a and from b
    y5, u5, v5 = planes(out[5], W, H)
    assert abs(int(y5[0, 0]) - round(16 + (200 - 16) / 12)) <= 1          # 31: near black
    assert abs(int(u5[0, 0]) - round(128 + (90 - 128) / 12)) <= 1
    y6 = planes(out[6], W, H)[0]
    assert abs(int(y6[0, 0]) - round(16 + (100 - 16) / 12)) <= 1          # 23, from b
    for k in range(frames_):
        gain = 1 - 2 * p(k, frames_) if k < 6 else 2 * p(k, frames_) - 1
        source = 200 if k < 6 else 100
        y = planes(out[k], W, H)[0]
        assert np.ptp(y) == 0 and abs(int(y[0, 0]) - (16 + (source - 16) * gain)) <= 0.51, k
    darkest = [int(planes(f, W, H)[0][0, 0]) for f in out]
    assert darkest.index(min(darkest)) in (5, 6) and darkest[0] > 180 and darkest[-1] > 90


def test_a_rendered_fade_goes_through_black_at_the_boundary(tmp_path, make_settings):
    video = render_two(tmp_path, make_settings(), "fade_black")
    brightness = video.mean(axis=(1, 2, 3))
    boundary = SCENE
    assert brightness[boundary - 1] < 25 and brightness[boundary] < 25           # about black
    assert brightness[boundary - HALF - 1] > 80 and brightness[boundary + HALF + 1] > 80
    # the outgoing scene (red) before the boundary, the incoming one (blue) after it
    before, after = video[boundary - 3].mean(axis=(0, 1)), video[boundary + 2].mean(axis=(0, 1))
    assert before[0] > before[2] + 40 and after[2] > after[0] + 40
