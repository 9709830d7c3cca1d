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


def wrap_words(words: list[str], size: int, max_width: int) -> list[list[int]]:
    """Word indices per line: as many words as fit in max_width (a longer word alone)."""
    lines: list[list[int]] = []
    line: list[int] = []
    text = ""
    for i, word in enumerate(words):
        candidate = text + separator(text, word) + word
        if line and layout.width(candidate, size) > max_width:
            lines.append(line)
            line, text = [i], word
        else:
            line.append(i)
            text = candidate
    if line:
        lines.append(line)
    return lines


def wrap_lines(text: str, size: int, max_width: int) -> list[str]:
    lines: list[str] = []
    for paragraph in text.split("\n"):
        words = split_words(paragraph)
        for idx in wrap_words(words, size, max_width):
            lines.append(join_words([words[i] for i in idx]))
    return [ln for ln in lines if ln.strip()] or [""]


def render_text_block(text: str, font_size: int, color: str, max_width: int,
                      stroke_color: str = "black", box: bool = False) -> Image.Image:
    """Wrapped, centered, outlined text as a tight RGBA image."""
    text = clean_text(text)
    lines = wrap_lines(text, max(6, int(font_size)), max_width)
    return _draw_block([[(ln, color)] for ln in lines], font_size, stroke_color, box)


def render_caption(words: list[str], font_size: int, color: str, max_width: int,
                   stroke_color: str = "black", box: bool = True, highlight: int | None = None,
                   highlight_color: str = "#FFD400") -> Image.Image:
    """A caption line of `words`, wrapped and centered; word `highlight` (an index) in
    `highlight_color`, the others in `color`."""
    words = [clean_text(w) for w in words]
    size = max(6, int(font_size))
    block = []
    for idx in wrap_words(words, size, max_width):
        pieces, text = [], ""
        for i in idx:
            sep = separator(text, words[i])
            text += sep + words[i]
            pieces.append((sep + words[i], highlight_color if i == highlight else color))
        block.append(pieces)
    return _draw_block(block, font_size, stroke_color, box)


def _draw_block(lines: list[list[tuple[str, str]]], font_size: int, stroke_color: str,
                box: bool) -> Image.Image:
    """Lines of coloured pieces, each line centered, as a tight RGBA image."""
    size = max(6, int(font_size))
    stroke = max(1, size // 14)
    texts = ["".join(t for t, _ in line) for line in lines]
    m = layout.metrics("".join(texts), size)
    line_h = m.ascent + m.descent + max(2, size // 6)
    widths = [int(layout.width(t, size)) + 1 for t in texts]
    pad = stroke * 2 + (size // 3 if box else 0)
    width = max(widths + [1]) + 2 * pad
    height = line_h * len(lines) + 2 * pad
    image = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    if box:
        draw.rounded_rectangle([0, 0, width - 1, height - 1], radius=size // 3, fill=(0, 0, 0, 130))
    outline = ImageColor.getrgb(stroke_color)
    for n, (line, text, w) in enumerate(zip(lines, texts, widths)):
        baseline = pad + n * line_h + m.ascent
        left = (width - w) / 2
        # the whole line in its first colour (outline and shaping across words), then every
        # piece of another colour drawn again over itself, where it sits in the line
        layout.draw_line(draw, left, baseline, text, size, ImageColor.getrgb(line[0][1]), stroke, outline)
        before = ""
        for piece, colour in line:
            if colour != line[0][1]:
                core = piece.lstrip(" ")
                offset = layout.width(before + piece[:len(piece) - len(core)], size)
                x = left + (w - 1 - offset - layout.width(core, size) if layout.rtl(text) else offset)
                layout.draw_line(draw, x, baseline, core, size, ImageColor.getrgb(colour), stroke, outline)
            before += piece
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
