"""slide_*: at frame k both scenes have moved by d = ease(p) x the frame's width (or height), to an even
pixel, p = (k + 0.5) / 2h, ease the smoothstep 3p^2 - 2p^3: worked out here, then found in the frames
made and in a decoded render."""
from __future__ import annotations

import numpy as np
import pytest

from generators.yuv import planes
from transition_helpers import HALF, SCENE, VW, H, W, even, made, p, random_frame, render_two, smoothstep

FRAMES = 12


def expected_offset(direction: str, k: int) -> int:
    side = W if direction in ("left", "right") else H
    return even(side * smoothstep(p(k, FRAMES)))


def shifted(a: np.ndarray, b: np.ndarray, d: int, direction: str) -> np.ndarray:
    """What a plane shows with both moved by d (independently of the module: by concatenation)."""
    if direction == "left":
        return np.concatenate([a[:, d:], b[:, :d]], axis=1)
    if direction == "right":
        return np.concatenate([b[:, b.shape[1] - d:], a[:, :a.shape[1] - d]], axis=1)
    if direction == "up":
        return np.concatenate([a[d:], b[:d]], axis=0)
    return np.concatenate([b[b.shape[0] - d:], a[:a.shape[0] - d]], axis=0)


@pytest.mark.parametrize("direction", ["left", "right", "up", "down"])
def test_both_frames_move_by_the_eased_offset_at_every_frame(direction):
    a, b = random_frame(1), random_frame(2)
    out = made(f"slide_{direction}", a, b, FRAMES)
    offsets = [expected_offset(direction, k) for k in range(FRAMES)]
    assert offsets[0] == 2 and offsets == sorted(offsets) and offsets[-1] == (W if direction in ("left", "right") else H) - 2
    for k, d in enumerate(offsets):
        for n, (got, pa, pb) in enumerate(zip(*(planes(f, W, H) for f in (out[k], a, b)))):
            step = d if n == 0 else d // 2           # chroma planes are half size: half the offset
            assert np.array_equal(got, shifted(pa, pb, step, direction)), (direction, k, n)


def test_the_offset_half_way_is_half_the_frame():
    # frames k = 5 and 6 straddle the boundary: ease(5.5/12) and ease(6.5/12), symmetric about 1/2
    assert expected_offset("left", 5) + expected_offset("left", 6) == W
    assert abs(expected_offset("up", 5) - H * smoothstep(5.5 / 12)) <= 1


def test_a_rendered_slide_left_shows_the_edge_where_the_offset_puts_it(tmp_path, make_settings):
    video = render_two(tmp_path, make_settings(), "slide_left")
    for k in (2, 5, 8):
        edge = VW - even(VW * smoothstep(p(k, 2 * HALF)))    # red (a) left of it, blue (b) right of it
        frame = video[SCENE - HALF + k]
        red, blue = frame[40:240, : edge - 4].mean(axis=(0, 1)), frame[40:240, edge + 4:].mean(axis=(0, 1))
        assert red[0] > 150 and red[2] < 80 and blue[2] > 150 and blue[0] < 80, (k, edge, red, blue)
