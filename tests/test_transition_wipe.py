"""wipe_*: at frame k the edge has crossed e = p x the width (or height), p = (k + 0.5) / 2h, to an
even pixel; the incoming scene is uncovered behind it, neither scene moves. Worked out here, then
measured in the frames made and in a decoded render."""
from __future__ import annotations

import numpy as np
import pytest

from generators.yuv import planes
from transition_helpers import HALF, SCENE, VH, H, W, even, made, p, random_frame, render_two

FRAMES = 12


def edge(direction: str, k: int, width: int = W, height: int = H) -> int:
    """Where the edge is at frame k: the first column (row) of the incoming scene, or one past its last."""
    side = width if direction in ("left", "right") else height
    crossed = even(side * p(k, FRAMES))
    return side - crossed if direction in ("left", "up") else crossed


@pytest.mark.parametrize("direction", ["left", "right", "up", "down"])
def test_the_edge_is_where_the_pace_puts_it_at_every_frame(direction):
    a, b = random_frame(3), random_frame(4)
    out = made(f"wipe_{direction}", a, b, FRAMES)
    for k in range(FRAMES):
        at = edge(direction, k)
        for n, (got, pa, pb) in enumerate(zip(*(planes(f, W, H) for f in (out[k], a, b)))):
            cut = at if n == 0 else at // 2
            if direction in ("left", "right"):
                incoming = np.arange(got.shape[1]) >= cut if direction == "left" else np.arange(got.shape[1]) < cut
                assert np.array_equal(got[:, incoming], pb[:, incoming]), (k, n)
                assert np.array_equal(got[:, ~incoming], pa[:, ~incoming]), (k, n)
            else:
                incoming = np.arange(got.shape[0]) >= cut if direction == "up" else np.arange(got.shape[0]) < cut
                assert np.array_equal(got[incoming], pb[incoming]), (k, n)
                assert np.array_equal(got[~incoming], pa[~incoming]), (k, n)
    # half way through the span the edge is near the middle: k = 5 and 6 put it 1/24 either side of it
    assert abs(edge(direction, 5) - (W if direction in ("left", "right") else H) * (6.5 / 12 if direction in
                                                                                    ("left", "up") else 5.5 / 12)) <= 1


def test_a_rendered_wipe_up_shows_the_edge_where_the_pace_puts_it(tmp_path, make_settings):
    video = render_two(tmp_path, make_settings(), "wipe_up")
    for k in (1, 6, 10):
        at = VH - even(VH * p(k, 2 * HALF))          # red (a) above it, blue (b) from it down
        frame = video[SCENE - HALF + k]
        red, blue = frame[: at - 4, 10:150].mean(axis=(0, 1)), frame[at + 4:, 10:150].mean(axis=(0, 1))
        assert red[0] > 150 and red[2] < 80 and blue[2] > 150 and blue[0] < 80, (k, at, red, blue)
        column = frame[:, 80, 2]
        assert abs(int(np.argmax(column > 125)) - at) <= 2, (k, at)    # the first blue row
