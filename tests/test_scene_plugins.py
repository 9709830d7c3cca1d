"""Scenes, motions and overlays as plug-ins: the job model and the renderer's registries agree,
and overlay layers draw where and when they should."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from generators import motions, overlays, scenes, transitions
from generators.frames import SceneFrames
from generators.plugins import unregister
from generators.subtitles import Cue
from generators.visual import SceneVisual, TextSpec
from generators.yuv import planes
from jobmodel import catalogue


def test_the_job_model_names_what_the_renderer_knows():
    for kind, registry in (("motion", motions.MOTIONS), ("scene_kind", scenes.SOURCES),
                           ("caption_style", overlays.CAPTION_STYLES), ("transition", transitions.TRANSITIONS),
                           ("overlay", overlays.OVERLAYS)):
        assert sorted(catalogue.names(kind)) == sorted(registry), kind
    # the built-ins of SPEC are there
    assert {"image", "video"} <= set(catalogue.names("scene_kind"))
    assert {"crossfade", "cut"} <= set(catalogue.names("transition"))
    assert set(catalogue.names("motion")) == {"zoom_in", "zoom_out", "pan_left", "pan_right", "pan_up",
                                              "pan_down", "none"}
    # scene layers are asked for by scene fields (`text`, `subtitle`), never by name
    assert set(overlays.SCENE_LAYERS) == {"title", "captions"}


def _grey(tmp_path: Path) -> Path:
    path = tmp_path / "grey.png"
    Image.new("RGB", (320, 560), (90, 90, 90)).save(path)
    return path


def _luma(scene: SceneFrames, i: int) -> np.ndarray:
    return planes(scene.frame(i), 270, 480)[0].astype(int)


def test_title_and_captions_are_drawn_over_the_scene_while_they_show(tmp_path):
    base = dict(width=270, height=480, fps=12, frames=24, motion="none", picture=_grey(tmp_path))
    plain = SceneFrames(SceneVisual(**base))
    bare = _luma(plain, 0)
    plain.close()
    style = TextSpec("", "bottom", 24, "white", box=True)
    scene = SceneFrames(SceneVisual(**base, title=TextSpec("Hello", "top", 40, "yellow"),
                                    cues=(Cue("spoken words", 0.5, 1.0),), subtitle_style=style))
    changed = {i: np.abs(_luma(scene, i) - bare) > 20 for i in (2, 8, 20)}
    scene.close()
    # 9:16 safe area: the title below the top 15%, the caption above the bottom 35% (rows 72..312)
    top, bottom = slice(0, 160), slice(220, 320)
    for i, mask in changed.items():
        assert mask[top].sum() > 200, f"no title in frame {i}"
        assert not mask[160:220].any() and not mask[320:].any()
    assert changed[8][bottom].sum() > 200                     # 0.67 s: the cue is spoken
    assert not changed[2][bottom].any() and not changed[20][bottom].any()   # 0.17 s and 1.67 s: no caption


def test_a_caption_style_is_a_layer_found_by_its_name(tmp_path):
    drawn = []

    class Marker:
        def __init__(self, visual):
            self.visual = visual

        def draw(self, frame, i):
            drawn.append(i)
            planes(frame, 270, 480)[0][:4, :4] = 255

        def close(self):
            drawn.append("closed")

    overlays.caption_style("test_marker")(Marker)
    try:
        assert "test_marker" in catalogue.names("caption_style")   # a job may name it now
        visual = SceneVisual(width=270, height=480, fps=12, frames=6, motion="none", picture=_grey(tmp_path),
                             cues=(Cue("x", 0, 1),), subtitle_style=TextSpec("", "bottom", 24, "white",
                                                                              style="test_marker"))
        scene = SceneFrames(visual)
        assert scene.frame(3)[0, 0] == 255
        scene.close()
        assert drawn == [3, "closed"]
        with pytest.raises(ValueError, match="caption style 'karaoke-typo'"):
            SceneFrames(SceneVisual(**{**visual.__dict__, "subtitle_style": TextSpec("", "bottom", 24, "white",
                                                                                     style="karaoke-typo")}))
    finally:
        unregister(overlays.CAPTION_STYLES, "test_marker")
    assert "test_marker" not in catalogue.names("caption_style")


def test_an_unknown_scene_kind_is_refused_by_name(tmp_path):
    with pytest.raises(ValueError, match="scene kind 'hologram'"):
        SceneFrames(SceneVisual(width=270, height=480, fps=12, frames=6, kind="hologram"))
