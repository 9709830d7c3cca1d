"""Text as pictures: titles and subtitle lines rasterized once with PIL, then blended per frame.

Never passes text through ffmpeg (no drawtext, no shell): any characters are safe.
"""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageColor, ImageDraw

from . import text_layout as layout
from .word_timing import join_words, separator, split_words


@dataclass(frozen=True)
class Overlay:
    """A picture with alpha, placed at even (x, y) on an I420 frame, ready to blend.

    For each plane it keeps the colour premultiplied by alpha and 256 - alpha
    (alpha scaled to 0..256, chroma at half resolution), so a blend is a
    multiply, an add and a shift per pixel, with no division.
    """
    x: int
    y: int
    planes: tuple[tuple[np.ndarray, np.ndarray], ...]   # (premultiplied, inverse alpha) for Y, U, V

    def blend_onto(self, frame: np.ndarray, width: int, height: int) -> None:
        from .yuv import planes
        for n, (target, (pre, inv)) in enumerate(zip(planes(frame, width, height), self.planes)):
            div = 1 if n == 0 else 2
            ox, oy = self.x // div, self.y // div
            h, w = inv.shape
            th, tw = target.shape
            x0, y0, x1, y1 = max(ox, 0), max(oy, 0), min(ox + w, tw), min(oy + h, th)
            if x1 <= x0 or y1 <= y0:
                continue
            region = target[y0:y1, x0:x1]
            sl = (slice(y0 - oy, y1 - oy), slice(x0 - ox, x1 - ox))
            mixed = region.astype(np.uint16)
            mixed *= inv[sl]
            mixed += pre[sl]
            mixed >>= 8
            region[:] = mixed


def clean_text(text: str) -> str:
    """Normalize and drop control characters (keeping line breaks)."""
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    return "".join(ch for ch in text if ch == "\n" or unicodedata.category(ch)[0] != "C")


def wrap_words(words: list[str], size: int, max_width: int, base_rtl: bool | None = None) -> list[list[int]]:
    """Word indices per line: as many words as fit in max_width (a longer word alone)."""
    lines: list[list[int]] = []
    line: list[int] = []
    text = ""
    for i, word in enumerate(words):
        candidate = text + separator(text, word) + word
        if line and layout.width(candidate, size, base_rtl) > max_width:
            lines.append(line)
            line, text = [i], word
        else:
            line.append(i)
            text = candidate
    if line:
        lines.append(line)
    return lines


def paragraph_lines(text: str, size: int, max_width: int) -> list[tuple[str, bool]]:
    """The lines of `text` wrapped to max_width, each with its paragraph's direction (True:
    right to left, from the paragraph's first strong character): a paragraph is a piece of
    text between line breaks, and every line wrapped from it keeps its direction."""
    lines: list[tuple[str, bool]] = []
    for paragraph in text.split("\n"):
        words = split_words(paragraph)
        base = layout.rtl(paragraph)
        for idx in wrap_words(words, size, max_width, base):
            lines.append((join_words([words[i] for i in idx]), base))
    return [ln for ln in lines if ln[0].strip()] or [("", False)]


def wrap_lines(text: str, size: int, max_width: int) -> list[str]:
    return [line for line, _ in paragraph_lines(text, size, max_width)]


def render_text_block(text: str, font_size: int, color: str, max_width: int,
                      stroke_color: str = "black", box: bool = False) -> Image.Image:
    """Wrapped, centered, outlined text as a tight RGBA image at most max_width wide (but
    for a word longer than that)."""
    lines = paragraph_lines(clean_text(text), max(6, int(font_size)), text_room(max_width, font_size, box))
    return render_lines(lines, font_size, color, stroke_color, box)


def render_lines(lines: list[tuple[str, bool]], font_size: int, color: str, stroke_color: str = "black",
                 box: bool = False) -> Image.Image:
    """Lines already wrapped (text, right to left), centered and outlined, as a tight RGBA image."""
    return _draw_block([([(ln, color)], base) for ln, base in lines], font_size, stroke_color, box)


def text_block_size(text: str, font_size: int, max_width: int, box: bool = False) -> "BlockSize":
    """The measures of render_text_block(text, font_size, ..., max_width, box=box), without drawing."""
    room = text_room(max_width, font_size, box)
    return block_size(paragraph_lines(clean_text(text), max(6, int(font_size)), room), font_size, box)


def caption_lines(words: list[str], font_size: int, max_width: int) -> list[tuple[list[int], bool]]:
    """Word indices per line of a caption of `words` (one paragraph) and its direction."""
    base = layout.rtl(join_words(words))
    return [(idx, base) for idx in wrap_words(words, max(6, int(font_size)), max_width, base)]


def render_caption(words: list[str], font_size: int, color: str, max_width: int,
                   stroke_color: str = "black", box: bool = True, highlight: int | None = None,
                   highlight_color: str = "#FFD400") -> Image.Image:
    """A caption line of `words`, wrapped and centered; word `highlight` (an index) in
    `highlight_color`, the others in `color`."""
    words = [clean_text(w) for w in words]
    block = []
    for idx, base in caption_lines(words, font_size, text_room(max_width, font_size, box)):
        pieces, text = [], ""
        for i in idx:
            sep = separator(text, words[i])
            text += sep + words[i]
            pieces.append((sep + words[i], highlight_color if i == highlight else color))
        block.append((pieces, base))
    return _draw_block(block, font_size, stroke_color, box)


def caption_size(words: list[str], font_size: int, max_width: int, box: bool = True) -> "BlockSize":
    """The measures of render_caption(words, font_size, ..., max_width, box=box), without drawing."""
    words = [clean_text(w) for w in words]
    room = text_room(max_width, font_size, box)
    lines = [(join_words([words[i] for i in idx]), base) for idx, base in caption_lines(words, font_size, room)]
    return block_size(lines, font_size, box)


@dataclass(frozen=True)
class BlockSize:
    """The measures of a block of lines as _draw_block draws it."""
    width: int
    height: int
    line_widths: tuple[int, ...]
    line_height: int
    ascent: int
    pad: int
    stroke: int


def _pad(font_size: int, box: bool) -> int:
    """The margin around a block's text: its outline, and the box's padding."""
    size = max(6, int(font_size))
    return max(1, size // 14) * 2 + (size // 3 if box else 0)


def text_room(max_width: int, font_size: int, box: bool) -> int:
    """How wide a line of text may be in a block at most max_width wide."""
    return max(1, int(max_width) - 2 * _pad(font_size, box))


def block_size(lines: list[tuple[str, bool]], font_size: int, box: bool) -> BlockSize:
    """Width and height of the image _draw_block makes of `lines` (text, right to left), without drawing."""
    size = max(6, int(font_size))
    stroke = max(1, size // 14)
    m = layout.metrics("".join(t for t, _ in lines), size)
    line_h = m.ascent + m.descent + max(2, size // 6)
    widths = tuple(int(layout.width(t, size, base)) + 1 for t, base in lines)
    pad = _pad(size, box)
    return BlockSize(max(widths + (1,)) + 2 * pad, line_h * len(lines) + 2 * pad, widths, line_h,
                     m.ascent, pad, stroke)


def _draw_block(lines: list[tuple[list[tuple[str, str]], bool]], font_size: int, stroke_color: str,
                box: bool) -> Image.Image:
    """Lines of coloured pieces, each with its paragraph's direction, each line centered, as a
    tight RGBA image."""
    size = max(6, int(font_size))
    texts = ["".join(t for t, _ in line) for line, _ in lines]
    measure = block_size([(t, base) for t, (_, base) in zip(texts, lines)], size, box)
    image = Image.new("RGBA", (measure.width, measure.height), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    if box:
        draw.rounded_rectangle([0, 0, measure.width - 1, measure.height - 1], radius=size // 3,
                               fill=(0, 0, 0, 130))
    outline = ImageColor.getrgb(stroke_color)
    for n, ((line, base), text, w) in enumerate(zip(lines, texts, measure.line_widths)):
        baseline = measure.pad + n * measure.line_height + measure.ascent
        colours = [ImageColor.getrgb(colour) for piece, colour in line for _ in piece]
        layout.draw_line(draw, (measure.width - w) / 2, baseline, text, size, colours[0] if colours else None,
                         measure.stroke, outline, base_rtl=base, colours=colours)
    return image


def place(image: Image.Image, frame_w: int, frame_h: int, position: str,
          margin_frac: float = 0.08, area: tuple[int, int, int, int] | None = None,
          scale: float = 1.0) -> Overlay:
    """Position an RGBA text image on the frame and prepare it for I420 blending: centered
    across the frame (or across `area` = (left, top, right, bottom)), at its top, centre or
    bottom; `scale` shrinks or grows it about its own centre (a caption popping in)."""
    full_w, full_h = image.size
    if scale != 1.0:
        image = image.resize((max(2, round(full_w * scale)), max(2, round(full_h * scale))), Image.LANCZOS)
    w, h = image.size
    pad_w, pad_h = w + (w % 2), h + (h % 2)       # I420 needs even sizes
    rgba = np.zeros((pad_h, pad_w, 4), dtype=np.uint8)
    rgba[:h, :w] = np.asarray(image.convert("RGBA"))
    left, top, right, bottom = area or (0, 0, frame_w, frame_h)
    x = left + (right - left - w) // 2
    margin = int(frame_h * margin_frac) if area is None else 0
    y = {"top": top + margin, "center": top + (bottom - top - full_h) // 2,
         "bottom": bottom - full_h - margin}[position]
    y += (full_h - h) // 2   # a scaled image keeps the centre of its full-size place
    return prepared(rgba, x, y)


def prepared(rgba: np.ndarray, x: int, y: int, opacity: float = 1.0) -> Overlay:
    """An RGBA picture (even height and width) ready to blend at (x, y) of an I420 frame (rounded
    down to even), its alpha times `opacity`."""
    from .yuv import planes, rgb_to_i420
    pad_h, pad_w = rgba.shape[:2]
    x, y = x // 2 * 2, y // 2 * 2
    yuv = rgb_to_i420(rgba[..., :3])
    alpha = rgba[..., 3].astype(np.float32) * opacity
    alpha_c = alpha.reshape(pad_h // 2, 2, pad_w // 2, 2).mean(axis=(1, 3))
    result = []
    for plane, a in zip(planes(yuv, pad_w, pad_h), (alpha, alpha_c, alpha_c)):
        a256 = np.round(a * 256.0 / 255.0).astype(np.uint16)      # 0..256
        result.append((plane.astype(np.uint16) * a256, (256 - a256).astype(np.uint16)))
    return Overlay(x, y, tuple(result))
