"""crossfade (alias `fade`): the outgoing scene dissolves into the incoming one."""
from __future__ import annotations

import cv2
import numpy as np

from . import Span, progress, transition


@transition("crossfade", aliases=("fade",))
class Crossfade:
    """Each frame a (1 - p) : p mix of the two scenes, p the progress through the span."""

    def __init__(self, span: Span):
        self.frames = span.frames
        self._out: np.ndarray | None = None

    def frame(self, a: np.ndarray, b: np.ndarray, k: int) -> np.ndarray:
        alpha = progress(k, self.frames)
        self._out = cv2.addWeighted(a, 1.0 - alpha, b, alpha, 0.0, dst=self._out)
        return self._out
