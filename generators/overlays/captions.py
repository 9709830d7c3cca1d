"""Captions: the narration's cues (generators/subtitles.py) over the scene, in the job's caption style.

    phrase   each cue's line whole while it is spoken, in a box
    karaoke  the line stays; the word being said turns `highlight_color` at its time
    word     one or two words at a time, popping in (a few frames growing to full size)

Every style keeps its text inside the caption safe area of the frame's aspect
(generators/safe_area.py: in 9:16 clear of the players' buttons and text, in 16:9 the broadcast
graphics-safe area), and `uppercase` draws it in capitals. Each image is rasterized the first
time it shows and only blended after that. `caption_band(visual)` is the band of rows the
scene's captions may cover, worked out from every image's size without drawing one: the title
keeps out of it (generators/overlays/title.py).
"""
from __future__ import annotations

import numpy as np

from ..subtitles import Cue, cue_at, word_at
from ..safe_area import safe_area
from ..text_render import (BlockSize, Overlay, caption_size, place, render_caption,
                            render_text_block, text_block_size)
from ..visual import SceneVisual
from ..word_timing import Word, join_words
from . import caption_layer, caption_style, scene_layer

POP_SCALES = (0.7, 0.85, 0.95)   # the first frames of a popping word, then full size


class _Captions:
    def __init__(self, visual: SceneVisual):
        self.v = visual
        self.s = visual.subtitle_style
        self.area = safe_area(visual.width, visual.height)
        self._cues = list(visual.cues)
        self._images: dict[tuple, Overlay] = {}

    def text(self, text: str) -> str:
        return text.upper() if self.s.uppercase else text

    def now(self, cues: list[Cue], i: int) -> tuple[float, int | None]:
        """Frame i's time and the index of the cue shown then (None: none)."""
        t = i / self.v.fps
        return t, cue_at(cues, t)

    def _place(self, key: tuple, make, scale: float = 1.0) -> Overlay:
        if key not in self._images:
            left, _, right, _ = self.area
            self._images[key] = place(make(right - left), self.v.width, self.v.height, self.s.position,
                                      area=self.area, scale=scale)
        return self._images[key]

    @property
    def width(self) -> int:
        """The width captions wrap to: the safe area's."""
        return self.area[2] - self.area[0]

    def sizes(self) -> list[BlockSize]:
        """The full size of every image this style shows. A style that draws otherwise than a
        boxed line per cue says so by its own `sizes`; this is the boxed line's."""
        return [text_block_size(self.text(c.text), self.s.font_size, self.width, box=True) for c in self._cues]

    def close(self) -> None:
        self._images.clear()


@caption_style("phrase")
class PhraseCaptions(_Captions):
    def draw(self, frame: np.ndarray, i: int) -> None:
        k = cue_at(self._cues, i / self.v.fps)
        if k is not None:
            s, text = self.s, self.text(self._cues[k].text)
            self._place(("line", k), lambda width: render_text_block(
                text, s.font_size, s.color, width, s.stroke_color, box=True)).blend_onto(
                    frame, self.v.width, self.v.height)


@caption_style("karaoke")
class KaraokeCaptions(_Captions):
    def words(self, cue: Cue) -> list[str]:
        return [self.text(w.text) for w in cue.words] or [self.text(cue.text)]

    def sizes(self) -> list[BlockSize]:
        return [caption_size(self.words(c), self.s.font_size, self.width, box=True) for c in self._cues]

    def draw(self, frame: np.ndarray, i: int) -> None:
        t, k = self.now(self._cues, i)
        if k is None:
            return
        cue = self._cues[k]
        spoken = word_at(cue, t)
        if spoken is not None and t >= cue.words[spoken].end and spoken == len(cue.words) - 1:
            spoken = None   # the line stays a moment after its last word, unlit
        words = self.words(cue)
        s = self.s
        self._place(("karaoke", k, spoken), lambda width: render_caption(
            words, s.font_size, s.color, width, s.stroke_color, box=True, highlight=spoken,
            highlight_color=s.highlight_color)).blend_onto(frame, self.v.width, self.v.height)


def word_groups(cues: list[Cue], size: int = 2) -> list[Cue]:
    """The cues' words in groups of one or two: a word ending a clause ends its group."""
    groups: list[Cue] = []
    for cue in cues:
        words: list[Word] = list(cue.words) or [Word(cue.text, cue.start, cue.end)]
        current: list[Word] = []
        for w in words:
            current.append(w)
            if len(current) >= size or w.text[-1:] in ",.;:!?、。，！？":
                groups.append(Cue(join_words([x.text for x in current]), current[0].start,
                                  current[-1].end, tuple(current)))
                current = []
        if current:
            groups.append(Cue(join_words([x.text for x in current]), current[0].start,
                              current[-1].end, tuple(current)))
    return groups


@caption_style("word")
class WordCaptions(_Captions):
    def __init__(self, visual: SceneVisual):
        super().__init__(visual)
        self._groups = word_groups(self._cues)

    def sizes(self) -> list[BlockSize]:
        return [text_block_size(self.text(g.text), int(self.s.font_size * 1.25), self.width, box=False)
                for g in self._groups]

    def draw(self, frame: np.ndarray, i: int) -> None:
        t, k = self.now(self._groups, i)
        if k is None:
            return
        group = self._groups[k]
        age = int(round((t - group.start) * self.v.fps))
        step = min(max(age, 0), len(POP_SCALES))
        scale = POP_SCALES[step] if step < len(POP_SCALES) else 1.0
        s, text = self.s, self.text(group.text)
        self._place(("word", k, step), lambda width: render_text_block(
            text, int(s.font_size * 1.25), s.color, width, s.stroke_color, box=False),
            scale=scale).blend_onto(frame, self.v.width, self.v.height)


def caption_band(visual: SceneVisual) -> tuple[int, int] | None:
    """(top, bottom) rows the scene's captions may cover (None: no captions): the tallest of
    its images, where the style's position puts it inside the safe area."""
    layer = captions(visual)
    if layer is None:
        return None
    if not isinstance(layer, _Captions):   # a style of a plug-in that measures nothing: as phrase
        layer = PhraseCaptions(visual)
    tallest = max((size.height for size in layer.sizes()), default=0)
    _, top, _, bottom = layer.area
    position = visual.subtitle_style.position
    if position == "top":
        return top, top + tallest
    if position == "bottom":
        return bottom - tallest - 1, bottom   # place() rounds y down to an even row
    middle = top + (bottom - top - tallest) // 2
    return middle - 1, middle + tallest


@scene_layer("captions", z=20, band=caption_band)
def captions(visual: SceneVisual):
    """The scene's narration as captions (`subtitle`, the job's `subtitles`), in its caption style."""
    if not visual.cues or visual.subtitle_style is None:
        return None
    return caption_layer(visual)(visual)
