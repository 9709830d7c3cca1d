"""cut (alias `none`): the next scene starts at once, no frames in between."""
from __future__ import annotations

import numpy as np

from . import Span, transition


@transition("cut", aliases=("none",), spans=False)
class Cut:
    """A hard cut at the boundary. It spans no frames, so no piece is made for it; `frame`
    says what a cut would show if asked (the outgoing scene until the boundary)."""

    def __init__(self, span: Span):
        self.frames = span.frames

    def frame(self, a: np.ndarray, b: np.ndarray, k: int) -> np.ndarray:
        return a if 2 * k < self.frames else b
