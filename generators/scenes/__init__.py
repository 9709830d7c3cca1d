"""Frame sources: what a scene shows before any overlay, one plug-in per scene kind.

In the manner of editly's frame sources: a source is made from the scene's
SceneVisual and answers `frame(i)` with the I420 frame (generators/yuv.py) of local
frame i, and `close()` when the piece is done. Sources are found by scene kind (the
job's scene `type`) in SOURCES; each module of this package registers its own with

    @scene_kind("image")
    class StillSource: ...

and is imported when the package is, so a new scene kind is one module here plus its
name in jobmodel/spec.py's SCENE_TYPES (tests/test_scene_plugins.py checks the two agree).

A source may hand back the same array for every frame (it is reused): the caller uses
or copies it before asking for the next frame, and overlays draw on it in place.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import cv2
import numpy as np

from ..plugins import load_modules, registrar
from ..visual import SceneVisual


class FrameSource(Protocol):
    def frame(self, i: int) -> np.ndarray: ...
    def close(self) -> None: ...


SOURCES: dict[str, Callable[[SceneVisual], FrameSource]] = {}


# @scene_kind("name"): the frame source class (or factory) for scene kind `name`
scene_kind = registrar(SOURCES, "scene kind")


def open_source(visual: SceneVisual) -> FrameSource:
    try:
        factory = SOURCES[visual.kind]
    except KeyError:
        raise ValueError(f"no frame source for scene kind {visual.kind!r} (known: {sorted(SOURCES)})") from None
    return factory(visual)


def cover(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Scale to cover width x height (keeping aspect), then crop the centre."""
    h, w = image.shape[:2]
    scale = max(width / w, height / h)
    new_w, new_h = max(width, round(w * scale)), max(height, round(h * scale))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    resized = cv2.resize(image, (new_w, new_h), interpolation=interp)
    x0, y0 = (new_w - width) // 2, (new_h - height) // 2
    return resized[y0:y0 + height, x0:x0 + width]


load_modules(__name__, __path__)
