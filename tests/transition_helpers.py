"""Helpers for the transition tests: I420 frames made by hand, a transition's frames, and a
two-scene render of it decoded the way a viewer sees it."""
from __future__ import annotations

import numpy as np
from PIL import Image

from generators.transitions import Span, open_transition, progress
from generators.yuv import planes
from job_parsing import parse_job
from media import frames
from protovideo.pipeline.render import make_context, render_job

W, H = 270, 480          # frames of the unit tests
VW, VH, FPS = 160, 284, 12   # the rendered videos: 2 scenes of 2 s (24 frames), a 1 s transition: h = 6
SCENE, HALF = 24, 6


def random_frame(seed: int, width: int = W, height: int = H) -> np.ndarray:
    """An I420 frame of seeded noise: no two columns or rows alike, so a shift shows exactly."""
    return np.random.default_rng(seed).integers(16, 236, (height * 3 // 2, width), dtype=np.uint8)


def flat_frame(y: int, u: int = 128, v: int = 128, width: int = W, height: int = H) -> np.ndarray:
    frame = np.empty((height * 3 // 2, width), np.uint8)
    for plane, value in zip(planes(frame, width, height), (y, u, v)):
        plane[:] = value
    return frame


def made(name: str, a: np.ndarray, b: np.ndarray, frames_: int, width: int = W, height: int = H) -> list:
    """Every frame of the transition `name` over a span of `frames_`, from fixed frames a and b."""
    mix = open_transition(name, Span(width, height, frames_))
    return [mix.frame(a, b, k).copy() for k in range(frames_)]


def p(k: int, frames_: int) -> float:
    return progress(k, frames_)


def smoothstep(x: float) -> float:
    x = min(max(x, 0.0), 1.0)
    return x * x * (3 - 2 * x)


def even(x: float) -> int:
    return int(round(x / 2.0)) * 2


def render_two(tmp_path, settings, transition: str, colours=((220, 30, 30), (30, 30, 220)),
               pictures: list | None = None, extra: dict | None = None) -> np.ndarray:
    """A video of two scenes joined by `transition`, flat-coloured (or showing `pictures`, PIL images
    of twice the frame's size, shown whole at half size), decoded to RGB frames (48 of them: the
    transition is frames 18-29, k = frame - 18); `extra`: more top-level job fields."""
    names = []
    for n, colour in enumerate(colours):
        picture = pictures[n] if pictures else Image.new("RGB", (VW * 2, VH * 2), colour)
        picture.save(tmp_path / f"picture{n}.png")
        names.append(f"picture{n}.png")
    job = parse_job({"id": f"t-{transition}", "video": {"width": VW, "height": VH, "fps": FPS, "quality": "high",
                                                       "transition": transition, "transition_duration": 1.0},
                     "scenes": [{"image": name, "duration": 2, "motion": "none"} for name in names],
                     **(extra or {})}, tmp_path)
    result = render_job(job, make_context(settings))
    assert result.report["pieces"] == 3            # two bodies and the transition
    video = frames(result.output, VW, VH)
    assert len(video) == 2 * SCENE
    return video.astype(int)
