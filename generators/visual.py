"""What decides how the video looks, frame by frame: the input of frame sources, layers and overlays.

Plain frozen data: the piece cache keys are made from it (generators/piece_keys.py), so
every field that changes a pixel belongs here and nothing else does. A file is a local
`Path`; keys take its content hash, never its name.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jobmodel.plugin_fields import Params, param

from .subtitles import Cue


@dataclass(frozen=True)
class TextSpec:
    content: str
    position: str
    font_size: int
    color: str
    stroke_color: str = "black"
    box: bool = False
    style: str = "phrase"       # captions: the caption style that draws the cues (generators/overlays)
    highlight_color: str = "#FFD400"   # captions: the spoken word (karaoke)
    uppercase: bool = False            # captions: drawn in capitals


# Params: a plug-in's fields as (name, value) pairs (jobmodel/plugin_fields.py); here files are local Paths


@dataclass(frozen=True)
class SceneVisual:
    """Everything that decides how a scene looks, frame by frame."""
    width: int
    height: int
    fps: int
    frames: int                    # frames in the scene's own slot
    kind: str = "image"            # the frame source (generators/scenes): the job's scene type
    motion: str = "zoom_in"        # the camera move of a still (generators/motions.py)
    picture: Path | None = None    # still picture (image scenes)
    video: Path | None = None      # clip (video scenes)
    title: TextSpec | None = None
    cues: tuple[Cue, ...] = ()
    subtitle_style: TextSpec | None = None  # content unused: the cue text is drawn
    params: Params = ()            # the scene kind's own fields (a card's background), files as Paths
    index: int = 0

    def param(self, name: str, default: Any = None) -> Any:
        return param(self.params, name, default)


@dataclass(frozen=True)
class OverlayUse:
    """One item of the job's `overlays` list, ready to draw: its plug-in and fields (files as Paths)."""
    type: str
    params: Params = ()
    index: int = 0

    def param(self, name: str, default: Any = None) -> Any:
        return param(self.params, name, default)


@dataclass(frozen=True)
class Canvas:
    """The whole video as overlays see it: its size, rate and length (frames)."""
    width: int
    height: int
    fps: int
    total: int = 0     # frames of the whole video; 0 while not known (narration still running)
