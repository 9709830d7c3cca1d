"""The scene's title (`text` in the job): rasterized once, blended on every frame."""
from __future__ import annotations

import numpy as np

from ..text_render import place, render_text_block
from ..visual import SceneVisual
from . import scene_layer


class TitleLayer:
    def __init__(self, visual: SceneVisual):
        t, self.width, self.height = visual.title, visual.width, visual.height
        image = render_text_block(t.content, t.font_size, t.color, int(visual.width * 0.9), t.stroke_color, t.box)
        self._text = place(image, visual.width, visual.height, t.position)

    def draw(self, frame: np.ndarray, i: int) -> None:
        self._text.blend_onto(frame, self.width, self.height)

    def close(self) -> None:
        pass


@scene_layer("title", z=10)
def title(visual: SceneVisual) -> TitleLayer | None:
    """The scene's title (`text`): rasterized once, blended on every frame."""
    return TitleLayer(visual) if visual.title is not None else None
