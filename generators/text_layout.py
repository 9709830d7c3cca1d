"""Lines of text in several fonts: each run of characters in the first font that has them
(generators/glyphs.py), shaped by Pillow (Raqm: Arabic joining, Devanagari conjuncts, right to
left) and set on one baseline. Lines whose first strong character is right-to-left put their
runs from the right."""
from __future__ import annotations

import functools
import unicodedata
from dataclasses import dataclass

from PIL import ImageDraw, ImageFont, features

RAQM = features.check("raqm")   # Pillow's complex layout (needs libfribidi on the machine)
# Without it, right-to-left text is still ordered and Arabic joined (python-bidi, arabic-reshaper);
# Devanagari and Thai marks then stay unshaped.


@functools.lru_cache(maxsize=128)
def font(path: str, size: int) -> ImageFont.FreeTypeFont:
    engine = ImageFont.Layout.RAQM if RAQM else ImageFont.Layout.BASIC
    face = ImageFont.truetype(path, size, layout_engine=engine)
    try:  # the variable Noto faces: bold, like the shipped DejaVu Sans Bold
        axes = face.get_variation_axes()
        face.set_variation_by_axes([min(max(700, a["minimum"]), a["maximum"]) if "eight" in str(a.get("name", ""))
                                    else a["default"] for a in axes])
    except (OSError, AttributeError, KeyError, TypeError):
        pass
    return face


def runs(text: str) -> list[tuple[str, str]]:
    from .glyphs import font_runs
    return font_runs(text)


def rtl(text: str) -> bool:
    """Whether the text's first strong character is written right to left."""
    for ch in text:
        kind = unicodedata.bidirectional(ch)
        if kind in ("R", "AL"):
            return True
        if kind == "L":
            return False
    return False


@dataclass(frozen=True)
class Metrics:
    ascent: int
    descent: int


def metrics(text: str, size: int) -> Metrics:
    """Ascent and descent of the tallest font the text uses (the shipped font at least)."""
    from .glyphs import SHIPPED_FONT
    paths = {p for _, p in runs(text)} | {str(SHIPPED_FONT)}
    pairs = [font(p, size).getmetrics() for p in paths]
    return Metrics(max(a for a, _ in pairs), max(d for _, d in pairs))


def _direction(run: str) -> str | None:
    return ("rtl" if rtl(run) else "ltr") if RAQM else None


def _shown(run: str) -> str:
    """The run as Pillow is given it. With Raqm: as written (Raqm shapes and orders it).
    Without (no FriBiDi on the machine): Arabic letters joined by arabic-reshaper and
    right-to-left text put in visual order by python-bidi, when they are installed."""
    if RAQM or not any(unicodedata.bidirectional(ch) in ("R", "AL") for ch in run):
        return run
    try:
        import arabic_reshaper
        from bidi import get_display
    except ImportError:
        return run
    return get_display(arabic_reshaper.reshape(run))


def width(text: str, size: int) -> float:
    return sum(font(p, size).getlength(_shown(run), direction=_direction(run)) for run, p in runs(text))


def draw_line(draw: ImageDraw.ImageDraw, x: float, baseline: float, text: str, size: int, fill,
              stroke: int = 0, stroke_fill=None) -> None:
    """Draw `text` with its left edge at x on the baseline."""
    pieces = runs(text)
    if rtl(text):
        pieces = pieces[::-1]
    for run, path in pieces:
        face = font(path, size)
        direction = _direction(run)
        shown = _shown(run)
        draw.text((x, baseline), shown, font=face, fill=fill, anchor="ls", stroke_width=stroke,
                  stroke_fill=stroke_fill, direction=direction)
        x += face.getlength(shown, direction=direction)
