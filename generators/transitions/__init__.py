"""Transitions between scenes, one plug-in per name (the catalogue of SPEC's `video.transition`).

A transition spans h frames either side of the boundary between scenes a and b
(generators/compose.py plans h from `video.transition_duration`; a scene's own
`transition` sets the one into the next scene). It is a class made once per piece
from the piece's `Span` and asked for each of its 2h frames:

    @transition("crossfade", aliases=("fade",))
    class Crossfade:
        def __init__(self, span: Span): ...
        def frame(self, a, b, k) -> np.ndarray   # frame k of span.frames

`a` is the outgoing scene's frame at that moment (its local frame n_a - h + k), `b` the
incoming scene's (its local frame k - h), both I420 (generators/yuv.py) and only read;
the result may be an array the transition reuses for every frame. Progress through the
span is `progress(k, frames)` = (k + 0.5) / frames: never 0 or 1, symmetric about the
boundary. Work on whole planes with cv2/numpy (no per-pixel Python): a transition frame
costs about what x264 spends on it or less.

Traits: `spans=False` for a transition of no frames (`cut`: the planner gives it none).
The decorator declares the name (and aliases) to the job model's catalogue, so a new
transition is one module here; its `version` goes into the key of its pieces.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from ..plugins import Plugin, find, load_modules, registrar
from ..yuv import planes

TRANSITIONS: dict[str, Plugin] = {}

# @transition("name", aliases=(), spans=True): the transition class of `name`
transition = registrar(TRANSITIONS, "transition")


@dataclass(frozen=True)
class Span:
    width: int
    height: int
    frames: int     # 2h


class Transition(Protocol):
    def frame(self, a: np.ndarray, b: np.ndarray, k: int) -> np.ndarray: ...


def transition_plugin(name: str) -> Plugin:
    return find(TRANSITIONS, name, "transition")


def spans(name: str) -> bool:
    return bool(transition_plugin(name).trait("spans", True))


def open_transition(name: str, span: Span) -> Transition:
    return transition_plugin(name).make(span)


def progress(k: int, frames: int) -> float:
    """How far through the span frame k is: (k + 0.5) / frames."""
    return (k + 0.5) / frames


def ease(p: float) -> float:
    """Smoothstep: 0 at 0, 1 at 1, gentle at both ends."""
    p = min(max(p, 0.0), 1.0)
    return p * p * (3 - 2 * p)


def frame_planes(frame: np.ndarray, span: Span) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The Y, U and V planes of an I420 frame of the span's size."""
    return planes(frame, span.width, span.height)


def even(n: float) -> int:
    """n rounded to an even number of pixels (the chroma planes are half size)."""
    return int(round(n / 2.0)) * 2


load_modules(__name__, __path__)
