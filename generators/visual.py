"""What decides how one scene looks, frame by frame: the input of frame sources and overlay layers.

Plain frozen data: the piece cache keys are made from it (generators/compose.py), so
every field that changes a pixel belongs here and nothing else does.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

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
    index: int = 0
