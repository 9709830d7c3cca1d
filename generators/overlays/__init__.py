"""Overlay layers: what is drawn over a scene's frames (titles, captions), one plug-in per layer.

A layer is made from the scene's SceneVisual and draws onto each I420 frame in
place (`draw(frame, i)`, i the scene's local frame), then is closed with the scene.
Layers rasterize their text once (generators/text_render.py) and only blend per frame.

OVERLAYS holds the layer factories by name, each with its depth `z` (lower is drawn
first). A factory returns None when the scene has no such layer. Each module of this
package registers its own and is imported when the package is:

    @overlay("title", z=10)
    def title(visual): ...

Captions are one overlay whose look is a caption style, found in CAPTION_STYLES by
`visual.subtitle_style.style` (the job's `subtitles.style`): a new style is one module
here with `@caption_style("name")` on a layer class taking (visual), plus its name in
the job model.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import numpy as np

from ..plugins import load_modules, registrar
from ..visual import SceneVisual


class Layer(Protocol):
    def draw(self, frame: np.ndarray, i: int) -> None: ...
    def close(self) -> None: ...


OVERLAYS: dict[str, tuple[int, Callable[[SceneVisual], Layer | None]]] = {}
CAPTION_STYLES: dict[str, Callable[[SceneVisual], Layer]] = {}


# @overlay("name", z=...): a layer factory under `name`, drawn at depth z
overlay = registrar(OVERLAYS, "overlay", lambda factory, z: (z, factory))
# @caption_style("name"): the caption layer class (or factory) of style `name`
caption_style = registrar(CAPTION_STYLES, "caption style")


def layers_for(visual: SceneVisual) -> list[Layer]:
    """The scene's layers, bottom first."""
    layers: list[Layer] = []
    try:
        for _, factory in sorted(OVERLAYS.values(), key=lambda entry: entry[0]):
            layer = factory(visual)
            if layer is not None:
                layers.append(layer)
    except BaseException:
        for layer in layers:
            layer.close()
        raise
    return layers


load_modules(__name__, __path__)
