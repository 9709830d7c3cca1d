"""Text as pictures: titles and subtitle lines rasterized once with PIL, then blended per frame.

Never passes text through ffmpeg (no drawtext, no shell): any characters are safe.
"""
from __future__ import annotations

import functools
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageColor, ImageDraw, ImageFont

FONT_DIR = Path(__file__).resolve().parent / "fonts"
DEFAULT_FONT = FONT_DIR / "DejaVuSans-Bold.ttf"


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


def font_path_for(text: str) -> Path:
    """The shipped font, or a system fallback that covers the text (CJK, emoji...)."""
    try:
        from . import glyphs  # optional: fallback fonts and coverage checks
    except ImportError:
        return DEFAULT_FONT
    found = glyphs.font_for(text)
    return Path(found) if found else DEFAULT_FONT


@functools.lru_cache(maxsize=64)
def _font(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size)


def clean_text(text: str) -> str:
    """Normalize and drop control characters (keeping line breaks)."""
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    return "".join(ch for ch in text if ch == "\n" or unicodedata.category(ch)[0] != "C")


def wrap_lines(text: str, font: ImageFont.FreeTypeFont, max_width: int) -> list[str]:
    lines: list[str] = []
    for paragraph in text.split("\n"):
        words = paragraph.split(" ") if " " in paragraph else list(paragraph) if \
            font.getlength(paragraph) > max_width else [paragraph]
        joiner = " " if " " in paragraph else ""
        line = ""
        for word in words:
            candidate = f"{line}{joiner}{word}" if line else word
            if font.getlength(candidate) <= max_width or not line:
                line = candidate
            else:
                lines.append(line)
                line = word
        lines.append(line)
    return [ln for ln in lines if ln.strip()] or [""]


def render_text_block(text: str, font_size: int, color: str, max_width: int,
                      stroke_color: str = "black", box: bool = False) -> Image.Image:
    """Wrapped, centered, outlined text as a tight RGBA image."""
    text = clean_text(text)
    font = _font(str(font_path_for(text)), max(6, int(font_size)))
    stroke = max(1, font_size // 14)
    lines = wrap_lines(text, font, max_width)
    ascent, descent = font.getmetrics()
    line_h = ascent + descent + max(2, font_size // 6)
    widths = [int(font.getlength(ln)) for ln in lines]
    pad = stroke * 2 + (font_size // 3 if box else 0)
    width = max(widths + [1]) + 2 * pad
    height = line_h * len(lines) + 2 * pad
    image = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    if box:
        draw.rounded_rectangle([0, 0, width - 1, height - 1], radius=font_size // 3, fill=(0, 0, 0, 130))
    fill = ImageColor.getrgb(color)
    outline = ImageColor.getrgb(stroke_color)
    for i, (line, w) in enumerate(zip(lines, widths)):
        draw.text(((width - w) // 2, pad + i * line_h), line, font=font, fill=fill,
                  stroke_width=stroke, stroke_fill=outline)
    return image


def place(image: Image.Image, frame_w: int, frame_h: int, position: str,
          margin_frac: float = 0.08) -> Overlay:
    """Position an RGBA text image on the frame and prepare it for I420 blending."""
    from .yuv import planes, rgb_to_i420
    w, h = image.size
    pad_w, pad_h = w + (w % 2), h + (h % 2)       # I420 needs even sizes
    rgba = np.zeros((pad_h, pad_w, 4), dtype=np.uint8)
    rgba[:h, :w] = np.asarray(image.convert("RGBA"))
    x = (frame_w - w) // 2
    margin = int(frame_h * margin_frac)
    y = {"top": margin, "center": (frame_h - h) // 2, "bottom": frame_h - h - margin}[position]
    x, y = x // 2 * 2, y // 2 * 2
    yuv = rgb_to_i420(rgba[..., :3])
    alpha = rgba[..., 3].astype(np.float32)
    alpha_c = alpha.reshape(pad_h // 2, 2, pad_w // 2, 2).mean(axis=(1, 3))
    result = []
    for plane, a in zip(planes(yuv, pad_w, pad_h), (alpha, alpha_c, alpha_c)):
        a256 = np.round(a * 256.0 / 255.0).astype(np.uint16)      # 0..256
        result.append((plane.astype(np.uint16) * a256, (256 - a256).astype(np.uint16)))
    return Overlay(x, y, tuple(result))
