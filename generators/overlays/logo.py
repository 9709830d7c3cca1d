"""The logo overlay: a picture in a corner (or the centre) of every frame, at an opacity.

    {"type": "logo", "image": "assets/logo.png", "position": "top_right", "size": 0.12, "opacity": 0.85}

`size` is the logo's width as a share of the frame's width (its height keeps the picture's
aspect), `margin` the gap to the frame's edges as a share of the frame's shorter side, both
rounded to even pixels; the picture's own alpha is kept and multiplied by `opacity`. The
picture is a job asset: fetched by the pipeline, keyed by its content. It is scaled and
converted once; each frame is one blend of the small region it covers.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from jobmodel.catalogue import Param
from jobmodel.errors import JobFailed
from jobmodel.fields import number, one_of

from ..text_render import prepared
from ..visual import Canvas, OverlayUse
from . import overlay

POSITIONS = ("top_right", "top_left", "bottom_right", "bottom_left", "center")


def _even(n: float) -> int:
    return max(2, int(round(n / 2.0)) * 2)


def placement(canvas: Canvas, picture: tuple[int, int], position: str, size: float,
              margin: float) -> tuple[int, int, int, int]:
    """(x, y, width, height) of the logo on the frame, all even."""
    width = _even(canvas.width * size)
    height = _even(width * picture[1] / max(picture[0], 1))
    gap = int(round(min(canvas.width, canvas.height) * margin / 2.0)) * 2
    x = {"left": gap, "right": canvas.width - gap - width}.get(position.rsplit("_", 1)[-1],
                                                               (canvas.width - width) // 2 // 2 * 2)
    y = {"top": gap, "bottom": canvas.height - gap - height}.get(position.split("_", 1)[0],
                                                                 (canvas.height - height) // 2 // 2 * 2)
    return x, y, width, height


@overlay("logo", z=30, params={
    "image": Param(asset="image", required=True, aliases=("url", "src"), about="the logo picture (path or URL)"),
    "position": Param(check=one_of(*POSITIONS), default="top_right", about="corner of the frame, or center"),
    "size": Param(check=number(0.01, 1.0), default=0.12, about="width, as a share of the frame's width"),
    "opacity": Param(check=number(0.0, 1.0), default=0.85, about="1: as the picture is; 0: invisible"),
    "margin": Param(check=number(0.0, 0.4), default=0.04, about="gap to the edges, share of the shorter side")})
class LogoOverlay:
    """A picture (`image`) in a corner of every frame, `size` of its width, at `opacity`."""

    def __init__(self, use: OverlayUse, canvas: Canvas):
        self.canvas = canvas
        path = Path(use.param("image"))
        try:
            with Image.open(path) as im:
                rgba = im.convert("RGBA")
        except Exception as exc:  # noqa: BLE001 - any decoder error means a bad picture
            raise JobFailed(f"overlays[{use.index}].image: cannot read picture {path.name}: {exc}",
                            field=f"overlays[{use.index}].image", asset=str(path)) from None
        x, y, width, height = placement(canvas, rgba.size, use.param("position", "top_right"),
                                        use.param("size", 0.12), use.param("margin", 0.04))
        scaled = np.asarray(rgba.resize((width, height), Image.LANCZOS))
        self._logo = prepared(scaled, x, y, opacity=use.param("opacity", 0.85))

    def draw(self, frame: np.ndarray, g: int) -> None:
        self._logo.blend_onto(frame, self.canvas.width, self.canvas.height)

    def close(self) -> None:
        pass
