"""slide_left, slide_right, slide_up, slide_down: the incoming scene pushes the outgoing one out.

Both frames move together in the named direction by the same offset, the incoming one
entering from the opposite edge: at progress p the offset is ease(p) (smoothstep) of the
frame's width (left, right) or height (up, down), rounded to an even number of pixels so
the half-size chroma planes move by exactly half of it.
"""
from __future__ import annotations

from functools import partial

import numpy as np

from ..yuv import new_frame
from . import Span, ease, even, frame_planes, progress, transition


class Slide:
    def __init__(self, span: Span, direction: str):
        self.span, self.direction = span, direction
        self._out = new_frame(span.width, span.height)

    def offset(self, k: int) -> int:
        """How far both frames have moved at frame k (luma pixels)."""
        side = self.span.width if self.direction in ("left", "right") else self.span.height
        return min(even(side * ease(progress(k, self.span.frames))), side)

    def frame(self, a: np.ndarray, b: np.ndarray, k: int) -> np.ndarray:
        d = self.offset(k)
        for n, (out, pa, pb) in enumerate(zip(*(frame_planes(f, self.span) for f in (self._out, a, b)))):
            _push(out, pa, pb, d if n == 0 else d // 2, self.direction)
        return self._out


def _push(out: np.ndarray, a: np.ndarray, b: np.ndarray, d: int, direction: str) -> None:
    """One plane: a moved by d towards `direction`, b following it in from the other edge."""
    h, w = out.shape
    if direction == "left":
        out[:, :w - d], out[:, w - d:] = a[:, d:], b[:, :d]
    elif direction == "right":
        out[:, d:], out[:, :d] = a[:, :w - d], b[:, w - d:]
    elif direction == "up":
        out[:h - d], out[h - d:] = a[d:], b[:d]
    else:
        out[d:], out[:d] = a[:h - d], b[h - d:]


for _direction, _towards in (("left", "the left"), ("right", "the right"), ("up", "the top"), ("down", "the bottom")):
    transition(f"slide_{_direction}", about=f"both scenes slide towards {_towards}, the incoming one "
                                            "entering from the opposite edge")(partial(Slide, direction=_direction))
