"""What is drawn over the frames: scene layers (title, captions) and the job's overlays (logo, ...).

Two registries of one shape (generators/plugins.py), both with a depth `z` (lower is drawn first):

    SCENE_LAYERS  asked for by a scene's own fields (`text`, `subtitle`): a factory taking the
                  scene's SceneVisual, returning a layer or None when the scene has no such
                  layer; `draw(frame, i)` with i the scene's local frame. Drawn by the scene's
                  frames (generators/frames.py), so they move with the scene in a transition.

                      @scene_layer("title", z=10)
                      def title(visual): ...

    OVERLAYS      the items of the job's `overlays` list (`{"type": "logo", ...}`), over the
                  whole video: a class taking (OverlayUse, Canvas) whose `draw(frame, g)` gets g,
                  the frame's index in the whole video. Drawn on the finished frame of every
                  piece (after a transition's mix), so they stay in place across scenes. The
                  decorator declares the type and its fields to the job model's catalogue:

                      @overlay("logo", z=30, params={"image": Param(asset="image", required=True), ...})
                      class LogoOverlay: ...

                  `whole_video=True` marks an overlay that needs the video's length (Canvas.total):
                  its pieces wait until every scene's length is known, and their keys hold their place.

Layers rasterize their pictures once (generators/text_render.py) and only blend per frame.
Captions are one scene layer whose look is a caption style, found in CAPTION_STYLES by
`visual.subtitle_style.style` (the job's `subtitles.style`): a new style is one module here
with `@caption_style("name")` on a layer class taking (visual).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np

from ..plugins import Plugin, find, load_modules, registrar
from ..visual import Canvas, OverlayUse, SceneVisual


class Layer(Protocol):
    def draw(self, frame: np.ndarray, i: int) -> None: ...
    def close(self) -> None: ...


SCENE_LAYERS: dict[str, Plugin] = {}
OVERLAYS: dict[str, Plugin] = {}
CAPTION_STYLES: dict[str, Plugin] = {}


# @scene_layer("name", z=...): a layer factory of the scene's own fields, drawn at depth z
scene_layer = registrar(SCENE_LAYERS, "scene_layer", declared=False)
# @overlay("name", z=..., params=...): an item type of the job's `overlays` list
overlay = registrar(OVERLAYS, "overlay")
# @caption_style("name"): the caption layer class (or factory) of style `name`
caption_style = registrar(CAPTION_STYLES, "caption_style")


def _close_all(layers: list[Layer]) -> None:
    for layer in layers:
        layer.close()


def layers_for(visual: SceneVisual) -> list[Layer]:
    """The scene's own layers, bottom first."""
    layers: list[Layer] = []
    try:
        for plugin in sorted(SCENE_LAYERS.values(), key=lambda p: p.trait("z", 0)):
            layer = plugin.make(visual)
            if layer is not None:
                layers.append(layer)
    except BaseException:
        _close_all(layers)
        raise
    return layers


def overlay_plugin(name: str) -> Plugin:
    return find(OVERLAYS, name, "overlay")


def overlays_for(uses: Sequence[OverlayUse], canvas: Canvas) -> list[Layer]:
    """The job's overlays, bottom first (by z, then in the job's order)."""
    layers: list[Layer] = []
    try:
        for use in sorted(uses, key=lambda u: (overlay_plugin(u.type).trait("z", 0), u.index)):
            layers.append(overlay_plugin(use.type).make(use, canvas))
    except BaseException:
        _close_all(layers)
        raise
    return layers


def needs_whole_video(uses: Sequence[OverlayUse]) -> bool:
    return any(overlay_plugin(u.type).trait("whole_video", False) for u in uses)


def caption_layer(visual: SceneVisual) -> Callable[[SceneVisual], Layer]:
    return find(CAPTION_STYLES, visual.subtitle_style.style, "caption style").make


def caption_band(visual: SceneVisual) -> tuple[int, int] | None:
    """(top, bottom) rows the scene's captions may cover, None without captions: what the
    captions layer declares as its `band` (a title keeps out of it)."""
    plugin = SCENE_LAYERS.get("captions")
    band = plugin.trait("band") if plugin is not None else None
    return band(visual) if band is not None else None


def layer_notes(visual: SceneVisual) -> list[str]:
    """What the report should say about the scene's layers (a title made smaller to fit, ...):
    each scene layer's declared `note`, when it has something to say."""
    notes = []
    for plugin in sorted(SCENE_LAYERS.values(), key=lambda p: p.trait("z", 0)):
        note = plugin.trait("note")
        text = note(visual) if note is not None else ""
        if text:
            notes.append(text)
    return notes


load_modules(__name__, __path__)
