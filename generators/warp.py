"""The camera move of a still scene on one picture plane: scale and shift, at the least cost.

    out[y, x] = bilinear(src, k * x + tx, k * y + ty), border pixels replicated

is what cv2.warpAffine (WARP_INVERSE_MAP) computes, at about 5 ms for a 1080x1920
plane on one core: next to x264 medium (about 90 ms of CPU a frame) that is a tenth
of the whole render. Two cheaper OpenCV routines give the same pixels in most frames:

- k == 1 (pans): cv2.getRectSubPix, a subpixel crop (about 0.4 ms);
- k != 1 (zooms): cv2.resize of an integer-aligned crop at the exact scale 1/k
  (about 1.5 ms). resize puts output pixel j at crop position (j + 0.5) * k - 0.5,
  so the shift it can give is tied to the crop's integer start; starting the
  window `o` pixels into the resized crop moves it by o * k, whose fractional part
  walks through [0, 1). The window with the smallest error is taken when that
  error is within warpAffine's own precision (1/32 pixel); otherwise, which
  happens only when k is within a few percent of 1, the frame uses warpAffine.

The picture plane is padded once (`Plane`), replicating its border, so crops may
start left of or end right of the picture exactly as warpAffine's border does.
"""
from __future__ import annotations

import math

import cv2
import numpy as np

PRECISION = 1.0 / 32   # warpAffine's subpixel step (cv2.INTER_BITS = 5)
WINDOW = 128            # how far into the resized crop a window may start, per axis
_PAD = WINDOW + 4      # replicated border: crops for any window stay inside it


class Plane:
    """One picture plane (Y, U or V), padded once for the crops of every frame."""

    def __init__(self, pixels: np.ndarray):
        self.pixels = np.ascontiguousarray(pixels)
        self.height, self.width = pixels.shape
        self._padded = cv2.copyMakeBorder(self.pixels, _PAD, _PAD, _PAD, _PAD, cv2.BORDER_REPLICATE)

    def move(self, k: float, tx: float, ty: float, out: np.ndarray) -> str:
        """Write the moved plane into `out` (shape decides the size); returns the route taken."""
        height, width = out.shape
        if k == 1.0:
            centre = (tx + (width - 1) / 2.0, ty + (height - 1) / 2.0)
            cv2.getRectSubPix(self.pixels, (width, height), centre, patch=out)
            return "subpix"
        x = _window(k, tx, width, self.width)
        y = _window(k, ty, height, self.height)
        if x is None or y is None or (_kept(x, k) and _kept(y, k)):
            cv2.warpAffine(self.pixels, np.array([[k, 0.0, tx], [0.0, k, ty]]), (width, height), dst=out,
                           flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE)
            return "warp"
        (x0, x1, ox), (y0, y1, oy) = x, y
        crop = self._padded[y0 + _PAD:y1 + _PAD, x0 + _PAD:x1 + _PAD]
        scaled = cv2.resize(crop, None, fx=1.0 / k, fy=1.0 / k, interpolation=cv2.INTER_LINEAR)
        np.copyto(out, scaled[oy:oy + height, ox:ox + width])
        return "resize"


def _kept(axis: tuple[int, int, int], k: float) -> bool:
    """Whether resize keeps this crop length (when both do, cv2.resize copies: no scaling)."""
    start, end, _ = axis
    return round((end - start) / k) == end - start


def _window(k: float, t: float, n: int, size: int) -> tuple[int, int, int] | None:
    """Crop [start, end) of the source and window offset o along one axis, or None.

    Output j of resize on the crop samples start + (j + 0.5) * k - 0.5, so taking the
    window from j = o puts output x at k * x + start + (o + 0.5) * k - 0.5: that must
    be k * x + t within PRECISION.
    """
    best = None
    for o in range(WINDOW + 1):
        exact = t - (o + 0.5) * k + 0.5
        start = round(exact)
        error = abs(start - exact)
        if best is None or error < best[0]:
            best = (error, start, o)
            if error <= PRECISION / 4:
                break
    error, start, o = best
    if error > PRECISION:
        return None
    # enough source for o + n outputs (and one pixel more for the last bilinear pair)
    end = start + math.ceil((o + n + 1) * k) + 2
    if start < -_PAD or end > size + _PAD:
        return None
    if round((end - start) / k) < o + n:   # resize's output size: round(crop / k)
        return None
    return start, end, o
