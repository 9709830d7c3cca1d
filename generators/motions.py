"""Camera moves on still pictures: a registry of name -> view at progress p (0 at the first frame, 1 at the last).

A view says how close the camera is and where it looks, relative to the room the
picture leaves around the frame (the picture covers ROOM times the frame):

    zoom  0: the whole picture fits the frame (as wide as it gets); 1: the picture at 1:1
    x, y  -1 .. 1: the centre of the view from the left/top edge of the room to the
          right/bottom edge; 0: centred

The still frame source (generators/scenes/still.py) eases p and turns the view into a
scale and shift per frame. A new motion is one entry here plus its name in
jobmodel/spec.py's MOTIONS (tests/test_scene_plugins.py checks the two lists agree).
Pans run at 1:1 (zoom 1), so they take the cheap subpixel-crop route of generators/warp.py.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

ROOM = 1.15  # the picture covers the frame this much larger, for zoom and pan


@dataclass(frozen=True)
class View:
    zoom: float = 0.0
    x: float = 0.0
    y: float = 0.0


MOTIONS: dict[str, Callable[[float], View]] = {
    "zoom_in": lambda p: View(zoom=p),
    "zoom_out": lambda p: View(zoom=1 - p),
    "pan_left": lambda p: View(zoom=1, x=1 - 2 * p),     # the camera moves left: the picture slides right
    "pan_right": lambda p: View(zoom=1, x=2 * p - 1),
    "pan_up": lambda p: View(zoom=1, y=1 - 2 * p),       # the camera moves up: the picture slides down
    "pan_down": lambda p: View(zoom=1, y=2 * p - 1),
    "none": lambda p: View(),
}


def ease(p: float) -> float:
    """Smoothstep: the camera starts and stops gently."""
    p = min(max(p, 0.0), 1.0)
    return p * p * (3 - 2 * p)


def camera(motion: str, p: float, picture: tuple[int, int], frame: tuple[int, int]) -> tuple[float, float, float]:
    """(k, tx, ty) at progress p: frame pixel (x, y) shows picture point (k*x + tx, k*y + ty).

    `picture` and `frame` are (width, height). The camera never looks past the picture.
    """
    (sw, sh), (w, h) = picture, frame
    view = MOTIONS[motion](ease(p))
    wide = min(sw / w, sh / h)                 # the whole picture across one side
    k = 1.0 if view.zoom == 1 else wide + (1.0 - wide) * view.zoom
    cx = sw / 2 + view.x * (sw - k * w) / 2
    cy = sh / 2 + view.y * (sh - k * h) / 2
    return k, cx - k * w / 2, cy - k * h / 2
