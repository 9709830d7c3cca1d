"""Captions: the narration's cues (generators/subtitles.py) over the scene, in the job's caption style.

    phrase   each cue's line whole while it is spoken, in a box
    karaoke  the line stays; the word being said turns `highlight_color` at its time
    word     one or two words at a time, popping in (a few frames growing to full size)

Every style keeps its text inside the caption safe area: out of the bottom SAFE_BOTTOM
and right SAFE_RIGHT of the frame, where 9:16 players put their buttons and captions,
and `uppercase` draws it in capitals. Each image is rasterized the first time it shows
and only blended after that.
"""
from __future__ import annotations

import numpy as np

from ..subtitles import Cue, cue_at, word_at
from ..text_render import Overlay, place, render_caption, render_text_block
from ..visual import SceneVisual
from ..word_timing import Word, join_words
from . import caption_layer, caption_style, scene_layer

SAFE_BOTTOM = 0.15   # share of the frame's height kept free at the bottom
SAFE_RIGHT = 0.12    # share of its width kept free at the right
SAFE_SIDE = 0.05     # and at the left and the top
POP_SCALES = (0.7, 0.85, 0.95)   # the first frames of a popping word, then full size


def safe_area(width: int, height: int) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) of the region captions stay inside."""
    return (int(width * SAFE_SIDE), int(height * SAFE_SIDE),
            int(width * (1 - SAFE_RIGHT)), int(height * (1 - SAFE_BOTTOM)))


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

    def close(self) -> None:
        self._images.clear()


@caption_style("phrase")
class PhraseCaptions(_Captions):
    """Each cue's line whole while it is spoken, in a box."""

    def draw(self, frame: np.ndarray, i: int) -> None:
        k = cue_at(self._cues, i / self.v.fps)
        if k is not None:
            s, text = self.s, self.text(self._cues[k].text)
            self._place(("line", k), lambda width: render_text_block(
                text, s.font_size, s.color, width, s.stroke_color, box=True)).blend_onto(
                    frame, self.v.width, self.v.height)


@caption_style("karaoke")
class KaraokeCaptions(_Captions):
    """The line stays; the word being said turns `highlight_color` at its time."""

    def draw(self, frame: np.ndarray, i: int) -> None:
        t, k = self.now(self._cues, i)
        if k is None:
            return
        cue = self._cues[k]
        spoken = word_at(cue, t)
        if spoken is not None and t >= cue.words[spoken].end and spoken == len(cue.words) - 1:
            spoken = None   # the line stays a moment after its last word, unlit
        words = [self.text(w.text) for w in cue.words] or [self.text(cue.text)]
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
    """One or two words at a time, popping in."""

    def __init__(self, visual: SceneVisual):
        super().__init__(visual)
        self._groups = word_groups(self._cues)

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


@scene_layer("captions", z=20)
def captions(visual: SceneVisual):
    """The scene's narration as captions (`subtitle`, the job's `subtitles`), in its caption style."""
    if not visual.cues or visual.subtitle_style is None:
        return None
    return caption_layer(visual)(visual)
