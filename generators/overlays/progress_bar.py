"""The progress bar overlay: a bar along the top (or bottom) edge that fills as the video plays.

    {"type": "progress_bar", "position": "top", "color": "#FFFFFF", "height": 12}

At frame g of a video of N frames the bar covers the first (g + 1) / N of the frame's
width (so it is full on the last frame), rounded to an even pixel; `height` is its
thickness in pixels of a 1080-pixel frame, scaled with the frame's shorter side (at least
2). It needs the whole video's length (`whole_video`): its pieces are made once the last
scene's length is known, and their keys hold their place in the video.
"""
from __future__ import annotations

import numpy as np

from jobmodel.catalogue import Param
from jobmodel.fields import color, number, one_of

from ..visual import Canvas, OverlayUse
from ..yuv import planes, rgb_to_i420
from . import overlay


def _even(n: float) -> int:
    return int(round(n / 2.0)) * 2


def filled(canvas: Canvas, g: int) -> int:
    """The bar's length at frame g of the video (luma pixels, even)."""
    return min(max(_even(canvas.width * (g + 1) / max(canvas.total, 1)), 0), canvas.width)


def thickness(canvas: Canvas, height: float) -> int:
    return max(2, _even(height * min(canvas.width, canvas.height) / 1080.0))


@overlay("progress_bar", z=40, whole_video=True, params={
    "position": Param(check=one_of("top", "bottom"), default="top", about="along the top or the bottom edge"),
    "color": Param(check=color, default="white", aliases=("colour",), about="the bar's colour"),
    "height": Param(check=number(1, 200), default=12, about="thickness, pixels of a 1080-pixel frame")})
class ProgressBar:
    """A bar along the top or bottom edge, filled to the share of the video played."""

    def __init__(self, use: OverlayUse, canvas: Canvas):
        from PIL import ImageColor
        self.canvas = canvas
        rgb = np.full((2, 2, 3), ImageColor.getrgb(use.param("color", "white"))[:3], np.uint8)
        self._y, self._u, self._v = (int(p[0, 0]) for p in planes(rgb_to_i420(rgb), 2, 2))
        rows = thickness(canvas, use.param("height", 12))
        top = 0 if use.param("position", "top") == "top" else canvas.height - rows
        self._rows = slice(top, top + rows)
        self._chroma_rows = slice(top // 2, (top + rows) // 2)

    def draw(self, frame: np.ndarray, g: int) -> None:
        length = filled(self.canvas, g)
        if length <= 0:
            return
        y, u, v = planes(frame, self.canvas.width, self.canvas.height)
        y[self._rows, :length] = self._y
        u[self._chroma_rows, :length // 2] = self._u
        v[self._chroma_rows, :length // 2] = self._v

    def close(self) -> None:
        pass
