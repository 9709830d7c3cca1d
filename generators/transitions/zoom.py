"""zoom: the camera rushes into the outgoing scene and out of the incoming one.

Through the first half of the span the outgoing frame grows about its centre from 1x to
ZOOM x; at the boundary the incoming frame takes over at ZOOM x and settles back to 1x:
scale 1 + (ZOOM - 1) ease(2p) while p < 1/2, then 1 + (ZOOM - 1) ease(2 - 2p), ease the
smoothstep. Each plane is one cv2.warpAffine about its own centre (bilinear).
"""
from __future__ import annotations

import cv2
import numpy as np

from ..yuv import new_frame
from . import Span, ease, frame_planes, progress, transition

ZOOM = 1.5


@transition("zoom")
class Zoom:
    """The outgoing scene zooms in to 1.5x by the boundary, the incoming one zooms back out from 1.5x."""

    def __init__(self, span: Span):
        self.span = span
        self._out = new_frame(span.width, span.height)

    def scale(self, k: int) -> float:
        p = progress(k, self.span.frames)
        return 1.0 + (ZOOM - 1.0) * ease(2 * p if p < 0.5 else 2 - 2 * p)

    def frame(self, a: np.ndarray, b: np.ndarray, k: int) -> np.ndarray:
        s = self.scale(k)
        source = a if progress(k, self.span.frames) < 0.5 else b
        for out, plane in zip(frame_planes(self._out, self.span), frame_planes(source, self.span)):
            h, w = plane.shape
            cx, cy = (w - 1) / 2.0, (h - 1) / 2.0
            # out(x, y) = plane(c + (x - c) / s): the picture grown s times about its centre
            m = np.array([[1.0 / s, 0.0, cx - cx / s], [0.0, 1.0 / s, cy - cy / s]])
            cv2.warpAffine(plane, m, (w, h), dst=out, flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                           borderMode=cv2.BORDER_REPLICATE)
        return self._out
