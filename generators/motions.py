"""Camera moves on still pictures: a registry of name -> view at progress p (0 at the first frame, 1 at the last).

A view says how close the camera is and where it looks, relative to the room the
picture leaves around the frame (the picture covers ROOM times the frame):

    zoom  0: the whole picture fits the frame (as wide as it gets); 1: the picture at 1:1
    x, y  -1 .. 1: the centre of the view from the left/top edge of the room to the
          right/bottom edge; 0: centred

The still frame source (generators/scenes/still.py) eases p and turns the view into a
scale and shift per frame. A new motion is one row of the table below (a function of p
registered with `@motion("name")`), which also declares the name to the job model's
catalogue, so `scenes[i].motion` accepts it.
Pans run at 1:1 (zoom 1), so they take the cheap subpixel-crop route of generators/warp.py.
"""
from __future__ import annotations

from dataclasses import dataclass

from .plugins import Plugin, registrar

ROOM = 1.15  # the picture covers the frame this much larger, for zoom and pan


@dataclass(frozen=True)
class View:
    zoom: float = 0.0
    x: float = 0.0
    y: float = 0.0


MOTIONS: dict[str, Plugin] = {}
motion = registrar(MOTIONS, "motion")   # @motion("name"): a function of eased progress p giving a View


for _name, _view, _about in (
    ("zoom_in", lambda p: View(zoom=p), "From the whole picture to 1:1, centred."),
    ("zoom_out", lambda p: View(zoom=1 - p), "From 1:1 to the whole picture, centred."),
    ("pan_left", lambda p: View(zoom=1, x=1 - 2 * p), "The camera moves left at 1:1: the picture slides right."),
    ("pan_right", lambda p: View(zoom=1, x=2 * p - 1), "The camera moves right at 1:1."),
    ("pan_up", lambda p: View(zoom=1, y=1 - 2 * p), "The camera moves up at 1:1: the picture slides down."),
    ("pan_down", lambda p: View(zoom=1, y=2 * p - 1), "The camera moves down at 1:1."),
    ("none", lambda p: View(), "No move: the whole picture."),
):
    motion(_name, about=_about)(_view)


def ease(p: float) -> float:
    """Smoothstep: the camera starts and stops gently."""
    p = min(max(p, 0.0), 1.0)
    return p * p * (3 - 2 * p)


def camera(motion: str, p: float, picture: tuple[int, int], frame: tuple[int, int]) -> tuple[float, float, float]:
    """(k, tx, ty) at progress p: frame pixel (x, y) shows picture point (k*x + tx, k*y + ty).

    `picture` and `frame` are (width, height). The camera never looks past the picture.
    """
    (sw, sh), (w, h) = picture, frame
    view = MOTIONS[motion].make(ease(p))
    wide = min(sw / w, sh / h)                 # the whole picture across one side
    k = 1.0 if view.zoom == 1 else wide + (1.0 - wide) * view.zoom
    cx = sw / 2 + view.x * (sw - k * w) / 2
    cy = sh / 2 + view.y * (sh - k * h) / 2
    return k, cx - k * w / 2, cy - k * h / 2
