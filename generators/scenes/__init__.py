"""Frame sources: what a scene shows before any overlay, one plug-in per scene kind.

In the manner of editly's frame sources: a source is made from the scene's
SceneVisual and answers `frame(i)` with the I420 frame (generators/yuv.py) of local
frame i, and `close()` when the piece is done. Sources are found by scene kind (the
job's scene `type`) in SOURCES; each module of this package registers its own with

    @scene_kind("card", params={"background": Param(check=..., default=...)})
    class CardSource: ...

and is imported when the package is, so a new scene kind is one module here: the
decorator declares its name and the scene fields it reads to the job model's catalogue
(jobmodel/catalogue.py), so `scenes[i].type` accepts it and its fields are parsed into
`Scene.params`, then `SceneVisual.params` (generators/timeline.py). Traits say what else
it needs: `picture=ROOM` a still picture covering ROOM times the frame (the scene's `image`,
or one generated; generators/pictures.py), `files=("video",)` scene fields holding files
it shows (fetched and hashed by content). `owns` / `needs` name the existing scene fields
only this kind reads or must have (a video scene's `video`).

A source may hand back the same array for every frame (it is reused): the caller uses
or copies it before asking for the next frame, and overlays draw on it in place.
"""
from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator
from typing import Protocol

import cv2
import numpy as np

from ..plugins import Plugin, find, load_modules, registrar
from ..visual import SceneVisual


class FrameSource(Protocol):
    def frame(self, i: int) -> np.ndarray: ...
    def close(self) -> None: ...


SOURCES: dict[str, Plugin] = {}


# @scene_kind("name", ...): the frame source class (or factory) for scene kind `name`
scene_kind = registrar(SOURCES, "scene_kind")


def kind_of(name: str) -> Plugin:
    return find(SOURCES, name, "frame source for scene kind")


def open_source(visual: SceneVisual) -> FrameSource:
    factory: Callable[[SceneVisual], FrameSource] = kind_of(visual.kind).make
    return factory(visual)


_JOB: contextvars.ContextVar[object | None] = contextvars.ContextVar("scene_job", default=None)


def current_job() -> object | None:
    """The job whose pieces are being made in this context (job_scope), or None outside one.
    What a source shares between a job's pieces it keeps under this (several jobs of one
    process render at once: MAX_JOBS)."""
    return _JOB.get()


@contextlib.contextmanager
def job_scope() -> Iterator[object]:
    """One job's rendering: what sources share within the block is that job's, and end_job()
    at its end releases only that (another job running beside it keeps its own). Threads that
    make its pieces run in a copy of this context (generators/piece_queue.py)."""
    token = _JOB.set(object())
    try:
        yield _JOB.get()
    finally:
        try:
            end_job()
        finally:
            _JOB.reset(token)


def end_job() -> None:
    """After a job: each source drops what it shares between the pieces of the current job
    (current_job(); `end_job` on the source class, if it has one: the still source's scaled
    pictures)."""
    for plugin in SOURCES.values():
        release = getattr(plugin.make, "end_job", None)
        if release is not None:
            release()


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
