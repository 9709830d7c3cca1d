"""fade_black: the outgoing scene fades to black, then the incoming one fades up from it."""
from __future__ import annotations

import cv2
import numpy as np

from ..yuv import new_frame
from . import Span, progress, transition

BLACK_Y, NEUTRAL_C = 16, 128   # black in I420, BT.601 limited range: Y 16, U = V = 128


@transition("fade_black")
class FadeBlack:
    """To black through the first half of the span, up from black through the second: at progress p,
    the outgoing frame a at gain 1 - 2p while p < 1/2, then the incoming frame b at gain 2p - 1, over
    black. The darkest frames are the two beside the boundary."""

    def __init__(self, span: Span):
        self.frames, self.height = span.frames, span.height
        self._out = new_frame(span.width, span.height)

    def frame(self, a: np.ndarray, b: np.ndarray, k: int) -> np.ndarray:
        p = progress(k, self.frames)
        source, gain = (a, 1.0 - 2.0 * p) if p < 0.5 else (b, 2.0 * p - 1.0)
        h, out = self.height, self._out
        # luma rows, then the chroma rows (U and V follow the Y plane in an I420 frame)
        cv2.convertScaleAbs(source[:h], out[:h], gain, BLACK_Y * (1.0 - gain))
        cv2.convertScaleAbs(source[h:], out[h:], gain, NEUTRAL_C * (1.0 - gain))
        return out
