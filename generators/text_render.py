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
    """An RGBA picture placed at (x, y) on the frame, ready to blend."""
    x: int
    y: int
    rgb_premul: np.ndarray   # uint16 (h, w, 3): rgb * alpha
    inv_alpha: np.ndarray    # uint16 (h, w, 1): 255 - alpha

    def blend_onto(self, frame: np.ndarray) -> None:
        h, w = self.inv_alpha.shape[:2]
        fh, fw = frame.shape[:2]
        x0, y0 = max(self.x, 0), max(self.y, 0)
        x1, y1 = min(self.x + w, fw), min(self.y + h, fh)
        if x1 <= x0 or y1 <= y0:
            return
        sx, sy = x0 - self.x, y0 - self.y
        region = frame[y0:y1, x0:x1]
        inv = self.inv_alpha[sy:sy + y1 - y0, sx:sx + x1 - x0]
        pre = self.rgb_premul[sy:sy + y1 - y0, sx:sx + x1 - x0]
        region[:] = ((region.astype(np.uint16) * inv + pre) // 255).astype(np.uint8)


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
    w, h = image.size
    x = (frame_w - w) // 2
    margin = int(frame_h * margin_frac)
    y = {"top": margin, "center": (frame_h - h) // 2, "bottom": frame_h - h - margin}[position]
    rgba = np.asarray(image, dtype=np.uint16)
    alpha = rgba[..., 3:4]
    return Overlay(x, y, rgba[..., :3] * alpha, 255 - alpha)
