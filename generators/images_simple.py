"""Simple backgrounds: pleasant, deterministic per prompt, covering the whole frame.

A soft two-colour gradient at an angle with a few blurred light blobs and a fine
grain, so that motion (zoom, pan) is visible. Same prompt and size -> same picture.
"""
from __future__ import annotations

import colorsys
import hashlib

import numpy as np
from PIL import Image


def _palette(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    hue = rng.random()
    shift = 0.08 + 0.25 * rng.random()
    a = colorsys.hsv_to_rgb(hue, 0.55 + 0.25 * rng.random(), 0.55 + 0.2 * rng.random())
    b = colorsys.hsv_to_rgb((hue + shift) % 1.0, 0.5 + 0.3 * rng.random(), 0.25 + 0.2 * rng.random())
    return np.array(a, dtype=np.float32), np.array(b, dtype=np.float32)


def simple_background(prompt: str, width: int, height: int) -> Image.Image:
    seed = int.from_bytes(hashlib.md5((prompt or "").encode("utf-8")).digest()[:8], "little")
    rng = np.random.default_rng(seed)
    top, bottom = _palette(rng)
    # work at a quarter size and scale up: smooth content, cheap to make
    w, h = max(8, width // 4), max(8, height // 4)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    angle = rng.uniform(0, np.pi)
    proj = (xs / w - 0.5) * np.cos(angle) + (ys / h - 0.5) * np.sin(angle)
    t = np.clip(proj / (abs(np.cos(angle)) / 2 + abs(np.sin(angle)) / 2) * 0.5 + 0.5, 0, 1)[..., None]
    img = top * (1 - t) + bottom * t
    for _ in range(int(rng.integers(3, 6))):
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        radius = rng.uniform(0.15, 0.4) * max(w, h)
        glow = np.exp(-(((xs - cx) ** 2 + (ys - cy) ** 2) / (2 * radius ** 2)))[..., None]
        tint = np.array(colorsys.hsv_to_rgb(rng.random(), 0.35, 1.0), dtype=np.float32)
        img = img + glow * tint * rng.uniform(0.12, 0.3)
    small = Image.fromarray((np.clip(img, 0, 1) * 255).astype(np.uint8))
    big = np.asarray(small.resize((width, height), Image.BICUBIC), dtype=np.int16)
    grain = rng.integers(-4, 5, size=(height, width, 1), dtype=np.int16)
    return Image.fromarray(np.clip(big + grain, 0, 255).astype(np.uint8))


class SimpleProvider:
    name = "simple"
    max_batch = 1  # full-frame pictures: made and saved one at a time

    def identity(self, request) -> dict:
        return {"provider": "simple", "prompt": request.prompt,
                "width": request.width, "height": request.height}

    def generate(self, requests) -> list[Image.Image]:
        return [simple_background(r.prompt, r.width, r.height) for r in requests]


def create_provider(settings) -> SimpleProvider:
    return SimpleProvider()
