"""Lines of text in several fonts: each run of characters in the first font that has them
(generators/glyphs.py), shaped by Pillow (Raqm: Arabic joining, Devanagari conjuncts, right to
left) and set on one baseline.

Direction follows the Unicode Bidirectional Algorithm (UAX #9): a paragraph's base direction is
its first strong character (rules P2-P3, python-bidi's `get_base_level`), and every line wrapped
from that paragraph keeps it, so the second line of a paragraph that starts in Hebrew is laid out
right to left even when it starts with a Russian word. Within a line, the characters' embedding
levels (rules W1-I2, python-bidi's reference implementation) cut it into pieces of one level and
one font, put in visual order by rule L2; each piece is shaped on its own, right to left when its
level is odd.
"""
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
    """Whether a paragraph is right to left: its first strong character (skipping isolates),
    UAX #9 rules P2-P3."""
    try:
        from bidi import get_base_level
        return get_base_level(text) == 1
    except ImportError:   # python-bidi is in requirements.txt; the plain first-strong rule else
        for ch in text:
            kind = unicodedata.bidirectional(ch)
            if kind in ("R", "AL"):
                return True
            if kind == "L":
                return False
        return False


def levels(text: str, base_rtl: bool) -> list[int]:
    """Each character's resolved embedding level in a paragraph of the given base direction
    (UAX #9 X1-I2); trailing white space takes the base level (L1)."""
    base = 1 if base_rtl else 0
    if base == 0 and not any(unicodedata.bidirectional(ch) in ("R", "AL", "AN", "RLE", "RLO", "RLI")
                             for ch in text):
        return [0] * len(text)   # plain left-to-right text: nothing to resolve
    from bidi.algorithm import (explicit_embed_and_overrides, get_embedding_levels, get_empty_storage,
                                resolve_implicit_levels, resolve_neutral_types, resolve_weak_types)
    storage = get_empty_storage()
    storage["base_level"], storage["base_dir"] = base, "LR"[base]
    get_embedding_levels(text, storage)
    explicit_embed_and_overrides(storage)
    resolve_weak_types(storage)
    resolve_neutral_types(storage, False)
    resolve_implicit_levels(storage, False)
    found = [c["level"] for c in storage["chars"]]
    if len(found) != len(text):   # explicit controls removed (X9): clean_text drops them anyway
        return [base + (unicodedata.bidirectional(ch) in ("R", "AL")) for ch in text]
    end = len(found)
    while end and text[end - 1].isspace():
        end -= 1
    return found[:end] + [base] * (len(found) - end)


@dataclass(frozen=True)
class Piece:
    text: str
    font: str      # font file
    odd: bool      # right to left (an odd embedding level)
    start: int     # index of its first character in the line
    level: int


def pieces(text: str, base_rtl: bool | None = None, colours: list | None = None) -> list[Piece]:
    """The line cut where the font, the embedding level or the colour changes, in visual
    order (left to right on the page, UAX #9 L2)."""
    if base_rtl is None:
        base_rtl = rtl(text)
    found = levels(text, base_rtl)
    out: list[Piece] = []
    i = 0
    for run, path in runs(text):
        j = i
        while j < i + len(run):
            k = j + 1
            while k < i + len(run) and found[k] == found[j] and \
                    (colours is None or colours[k] == colours[j]):
                k += 1
            out.append(Piece(text[j:k], path, found[j] % 2 == 1, j, found[j]))
            j = k
        i += len(run)
    if out:   # L2: from the highest level down to the lowest odd one, reverse every sequence at or above it
        top = max(p.level for p in out)
        low = min((p.level for p in out if p.level % 2), default=top + 1)
        for level in range(top, low - 1, -1):
            n = 0
            while n < len(out):
                if out[n].level >= level:
                    m = n
                    while m < len(out) and out[m].level >= level:
                        m += 1
                    out[n:m] = out[n:m][::-1]
                    n = m
                else:
                    n += 1
    return out


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


def _direction(piece: Piece) -> str | None:
    return ("rtl" if piece.odd else "ltr") if RAQM else None


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


def width(text: str, size: int, base_rtl: bool | None = None) -> float:
    return sum(font(p.font, size).getlength(_shown(p.text), direction=_direction(p))
               for p in pieces(text, base_rtl))


def draw_line(draw: ImageDraw.ImageDraw, x: float, baseline: float, text: str, size: int, fill,
              stroke: int = 0, stroke_fill=None, base_rtl: bool | None = None,
              colours: list | None = None) -> None:
    """Draw `text` with its left edge at x on the baseline, in the base direction of its
    paragraph (`base_rtl`; None: the line's own), `colours` one fill per character (else `fill`)."""
    for piece in pieces(text, base_rtl, colours):
        face, direction, shown = font(piece.font, size), _direction(piece), _shown(piece.text)
        colour = colours[piece.start] if colours is not None else fill
        draw.text((x, baseline), shown, font=face, fill=colour, anchor="ls", stroke_width=stroke,
                  stroke_fill=stroke_fill, direction=direction)
        x += face.getlength(shown, direction=direction)
