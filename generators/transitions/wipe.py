"""wipe_left, wipe_right, wipe_up, wipe_down: an edge crosses the frame, uncovering the incoming scene.

Neither scene moves. The edge travels the named way at a steady pace: at progress p it has
crossed e = p x the frame's width (left, right) or height (up, down), rounded to an even
pixel so the half-size chroma planes cut at exactly half of it. `wipe_left`: the incoming
scene shows right of x = W - e; `wipe_right`: left of x = e; `wipe_up`: below y = H - e;
`wipe_down`: above y = e.
"""
from __future__ import annotations

from functools import partial

import numpy as np

from ..yuv import new_frame
from . import Span, even, frame_planes, progress, transition


class Wipe:
    def __init__(self, span: Span, direction: str):
        self.span, self.direction = span, direction
        self._out = new_frame(span.width, span.height)

    def crossed(self, k: int) -> int:
        """How far the edge has come at frame k (luma pixels)."""
        side = self.span.width if self.direction in ("left", "right") else self.span.height
        return min(even(side * progress(k, self.span.frames)), side)

    def frame(self, a: np.ndarray, b: np.ndarray, k: int) -> np.ndarray:
        np.copyto(self._out, a)
        e = self.crossed(k)
        for n, (out, pb) in enumerate(zip(frame_planes(self._out, self.span), frame_planes(b, self.span))):
            uncovered = _region(out.shape, e if n == 0 else e // 2, self.direction)
            out[uncovered] = pb[uncovered]
        return self._out


def _region(shape: tuple[int, int], e: int, direction: str) -> tuple[slice, slice]:
    """The part of a plane the edge has uncovered after crossing e pixels."""
    h, w = shape
    everything = slice(None)
    return {"left": (everything, slice(w - e, w)), "right": (everything, slice(0, e)),
            "up": (slice(h - e, h), everything), "down": (slice(0, e), everything)}[direction]


for _direction, _from in (("left", "right"), ("right", "left"), ("up", "bottom"), ("down", "top")):
    transition(f"wipe_{_direction}", about=f"an edge moves {_direction} from the {_from} edge, uncovering the "
                                           "incoming scene behind it")(partial(Wipe, direction=_direction))
