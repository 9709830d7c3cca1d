"""The scene's title (`text` in the job): rasterized once, blended on every frame.

Where it goes (`title_layout`): inside the title safe area of the frame's aspect
(generators/safe_area.py), at its top, centre or bottom, and never over the scene's captions: a
title on the captions' side moves to the captions' edge facing the middle of the frame (a bottom
title above bottom captions, a top title below top captions, a centred title clamped out of their
band). A title too wide or too tall for the room left is made smaller, down to MIN_TITLE of the
frame's shorter side; if even that does not fit, its last lines are left out. Either is said in
the report's notes (`title_note`, the layer's `note`, which the pipeline adds through
generators.overlays.layer_notes).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from ..safe_area import safe_area
from ..text_render import block_size, clean_text, paragraph_lines, place, render_lines, text_room
from ..visual import SceneVisual
from . import caption_band, scene_layer

GAP = 0.02          # of the frame's height kept between a title and the captions
MIN_TITLE = 0.025   # the smallest title, a share of the frame's shorter side (27 px at 1080)
SHRINK = 0.9        # each try at a smaller size


@dataclass(frozen=True)
class TitleLayout:
    size: int                            # font size drawn, pixels
    lines: tuple[tuple[str, bool], ...]  # the lines drawn (text, right to left)
    top: int                             # row of the title image's top
    height: int                          # the title image's height
    area: tuple[int, int, int, int]      # the safe area (left, top, right, bottom)
    note: str = ""                       # for the report: made smaller, lines left out


def _room(visual: SceneVisual, top: int, bottom: int) -> tuple[int, int]:
    """The rows a title may use: the safe area less the captions' band and a gap."""
    band = caption_band(visual)
    if band is None:
        return top, bottom
    gap = max(2, round(visual.height * GAP))
    captions_at, position = visual.subtitle_style.position, visual.title.position
    if captions_at == "top" or (captions_at == "center" and position == "bottom"):
        return max(top, band[1] + gap), bottom
    return top, min(bottom, band[0] - gap)


@functools.lru_cache(maxsize=64)
def title_layout(visual: SceneVisual) -> TitleLayout | None:
    t = visual.title
    if t is None:
        return None
    area = safe_area(visual.width, visual.height)
    left, top, right, bottom = area
    low, high = _room(visual, top, bottom)
    width, text = right - left, clean_text(t.content)
    floor = min(t.font_size, max(8, round(min(visual.width, visual.height) * MIN_TITLE)))
    size = t.font_size
    while True:
        lines = paragraph_lines(text, size, text_room(width, size, t.box))
        measure = block_size(lines, size, t.box)
        if (measure.width <= width and measure.height <= high - low) or size <= floor:
            break
        size = max(floor, int(size * SHRINK))
    kept = list(lines)
    while kept and block_size(kept, size, t.box).height > high - low:
        kept.pop()
    where = "safe area" + {(True, False): " above the captions", (False, True): " below the captions"}.get(
        (high < bottom, low > top), "")
    field = f"scenes[{visual.index}].text"
    notes = []
    if size < t.font_size:
        notes.append(f"{field}: the title is drawn at {size} px instead of {t.font_size} px to fit "
                     f"the frame's {where}")
    if not kept:
        return TitleLayout(size, (), low, 0, area, f"{field}: no room for the title in the frame's {where}; "
                                                   "it is left out")
    if len(kept) < len(lines):
        notes.append(f"{field}: even at {size} px only {len(kept)} of its {len(lines)} lines fit in the "
                     f"frame's {where}; the rest are left out")
    height = block_size(kept, size, t.box).height
    y = {"top": low, "bottom": high - height,
         "center": min(max(top + (bottom - top - height) // 2, low), high - height)}[t.position]
    return TitleLayout(size, tuple(kept), y, height, area, "; ".join(notes))


def title_note(visual: SceneVisual) -> str:
    """What the report should say about the scene's title ("" when it is drawn as asked)."""
    layout = title_layout(visual)
    return layout.note if layout is not None else ""


class TitleLayer:
    def __init__(self, visual: SceneVisual):
        t, self.width, self.height = visual.title, visual.width, visual.height
        layout = title_layout(visual)
        self._text = None
        if layout.lines:
            image = render_lines(list(layout.lines), layout.size, t.color, t.stroke_color, t.box)
            left, _, right, _ = layout.area
            self._text = place(image, visual.width, visual.height, "top",
                               area=(left, layout.top, right, layout.top + layout.height))

    def draw(self, frame: np.ndarray, i: int) -> None:
        if self._text is not None:
            self._text.blend_onto(frame, self.width, self.height)

    def close(self) -> None:
        pass


@scene_layer("title", z=10, note=title_note)
def title(visual: SceneVisual) -> TitleLayer | None:
    return TitleLayer(visual) if visual.title is not None else None
