"""Card scenes (`type: card`): a colour, or a gradient between two, for title and end cards.

    {"type": "card", "background": ["#0B1E3F", "#3FA7D6"], "direction": "vertical",
     "text": {"content": "Thank you", "position": "center"}, "duration": 3}

`background` is one colour (the whole frame) or two: the first at the top (or left) edge,
the second at the bottom (or right), mixed linearly in RGB between them, row by row
(`direction: vertical`, the default) or column by column (`horizontal`). The text is the
scene's `text` (the title layer draws it) and its captions, if it has narration. A card
needs no picture, so none is fetched or generated for it.

The frame is made once and copied for every frame (layers draw on the copy).
"""
from __future__ import annotations

from typing import Any

import numpy as np
from PIL import ImageColor

from jobmodel.catalogue import Param
from jobmodel.errors import JobInvalid
from jobmodel.fields import color, one_of, type_name

from ..visual import SceneVisual
from ..yuv import new_frame, rgb_to_i420
from . import scene_kind


def colours(value: Any, path: str) -> tuple[str, ...]:
    """A colour, or a list of two (a gradient)."""
    if isinstance(value, str):
        return (color(value, path),)
    if isinstance(value, list) and len(value) == 2:
        return tuple(color(c, f"{path}[{n}]") for n, c in enumerate(value))
    raise JobInvalid(path, f"must be a colour or a list of two colours, got {type_name(value)}")


# its JSON Schema (jobmodel/schema.py publishes it): a colour, or two
colours.schema = lambda: {"anyOf": [color.schema(), {"type": "array", "items": color.schema(),
                                                    "minItems": 2, "maxItems": 2}]}


def background(width: int, height: int, fill: tuple[str, ...], direction: str) -> np.ndarray:
    """RGB (height, width, 3): one colour, or a linear RGB gradient between two."""
    ends = [np.array(ImageColor.getrgb(c)[:3], dtype=np.float64) for c in fill]
    if len(ends) == 1:
        return np.broadcast_to(ends[0].astype(np.uint8), (height, width, 3)).copy()
    steps = height if direction == "vertical" else width
    t = np.linspace(0.0, 1.0, steps)[:, None]
    line = np.round(ends[0] + (ends[1] - ends[0]) * t).astype(np.uint8)      # (steps, 3)
    if direction == "vertical":
        return np.ascontiguousarray(np.broadcast_to(line[:, None, :], (height, width, 3)))
    return np.ascontiguousarray(np.broadcast_to(line[None, :, :], (height, width, 3)))


@scene_kind("card", params={
    "background": Param(check=colours, default=("black",),
                        about="a colour, or two: a gradient from the first to the second"),
    "direction": Param(check=one_of("vertical", "horizontal"), default="vertical",
                       about="a gradient's direction: top to bottom, or left to right")})
class CardSource:
    """Text on a colour or a two-colour gradient (`background`), for title and end cards."""

    def __init__(self, visual: SceneVisual):
        fill = visual.param("background", ("black",))
        rgb = background(visual.width, visual.height, tuple(fill), visual.param("direction", "vertical"))
        self._card = rgb_to_i420(rgb)
        self._out = new_frame(visual.width, visual.height)

    def frame(self, i: int) -> np.ndarray:
        np.copyto(self._out, self._card)
        return self._out

    def close(self) -> None:
        pass
