"""Captions: the narration's cues (generators/subtitles.py) over the scene, in the job's caption style.

The `phrase` style shows each cue's line whole while it is spoken, in a box; each
line is rasterized the first time it shows and only blended after that.
"""
from __future__ import annotations

import numpy as np

from ..subtitles import cue_at
from ..text_render import Overlay, place, render_text_block
from ..visual import SceneVisual
from . import CAPTION_STYLES, caption_style, overlay

MARGIN = 0.12   # captions keep this share of the frame's height from its top or bottom edge


@caption_style("phrase")
class PhraseCaptions:
    def __init__(self, visual: SceneVisual):
        self.v = visual
        self._cues = list(visual.cues)
        self._lines: dict[int, Overlay] = {}

    def draw(self, frame: np.ndarray, i: int) -> None:
        k = cue_at(self._cues, i / self.v.fps)
        if k is not None:
            self._line(k).blend_onto(frame, self.v.width, self.v.height)

    def _line(self, k: int) -> Overlay:
        if k not in self._lines:
            s, v = self.v.subtitle_style, self.v
            image = render_text_block(self._cues[k].text, s.font_size, s.color, int(v.width * 0.9),
                                      s.stroke_color, box=True)
            self._lines[k] = place(image, v.width, v.height, s.position, margin_frac=MARGIN)
        return self._lines[k]

    def close(self) -> None:
        self._lines.clear()


@overlay("captions", z=20)
def captions(visual: SceneVisual):
    if not visual.cues or visual.subtitle_style is None:
        return None
    style = visual.subtitle_style.style
    try:
        factory = CAPTION_STYLES[style]
    except KeyError:
        raise ValueError(f"no caption style {style!r} (known: {sorted(CAPTION_STYLES)})") from None
    return factory(visual)
