"""Image scenes: one picture and a camera move (generators/motions.py).

The picture is scaled once to cover the frame with room for the camera move; each
frame is then one scale-and-shift per plane (generators/warp.py: a subpixel crop for
pans, an exact-scale resize for zooms, an affine warp where neither is exact), never a
resize of the full picture, into one frame buffer reused for every frame. A scene
whose camera does not move is made once and copied.

A scene's picture is wanted by up to three pieces (its body and the crossfades on
either side), often at the same time on different threads: the scaled planes of the
last few pictures are shared (`shared_planes`), so each is decoded, scaled and
converted once. The planes are only read.

Several jobs render at once in one process (MAX_JOBS): each job (scenes.current_job(), set by
scenes.job_scope) keeps its own last KEEP pictures and forgets only its own when it ends
(`end_job`); a picture two jobs use is shared by both and dropped once neither keeps it.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path
from typing import Hashable

import numpy as np
from PIL import Image

from jobmodel.errors import JobFailed
from jobmodel.stock import stock_param

from ..motions import ROOM, camera
from ..visual import SceneVisual
from ..warp import Plane
from ..yuv import even, new_frame, planes, rgb_to_i420
from . import cover, current_job, scene_kind


KEEP = 4   # pictures whose planes stay shared: a body, its two crossfades and the next body's picture


class _Loading:
    def __init__(self):
        self.done = threading.Event()
        self.planes: tuple[Plane, Plane, Plane] | None = None


_shared: dict[tuple, _Loading] = {}
_kept: dict[Hashable, OrderedDict[tuple, None]] = {}   # job -> its last KEEP keys
_shared_lock = threading.Lock()


def _keep(owner: Hashable, key: tuple) -> None:
    """Under _shared_lock: `key` is the owner's newest; its oldest beyond KEEP let go."""
    kept = _kept.setdefault(owner, OrderedDict())
    kept[key] = None
    kept.move_to_end(key)
    while len(kept) > KEEP:
        old, _ = kept.popitem(last=False)
        _drop_if_unkept(old)


def _drop_if_unkept(key: tuple) -> None:
    if not any(key in kept for kept in _kept.values()):
        _shared.pop(key, None)


def shared_planes(key: tuple, load) -> tuple[Plane, Plane, Plane]:
    """load() once per key among the last KEEP keys of the current job (and of any other job
    keeping it); a second caller while the first is loading waits for its result (and loads
    on its own if that failed)."""
    with _shared_lock:
        entry = _shared.get(key)
        mine = entry is None
        if mine:
            entry = _shared[key] = _Loading()
        _keep(current_job(), key)
    if not mine:
        entry.done.wait()
        return entry.planes if entry.planes is not None else load()
    try:
        entry.planes = load()
    finally:
        if entry.planes is None:   # failed: not kept, a waiter tries itself and gets its own error
            with _shared_lock:
                if _shared.get(key) is entry:
                    del _shared[key]
        entry.done.set()
    return entry.planes


def forget_pictures() -> None:
    """Drop the planes the current job keeps (those another job keeps stay; sources still open
    keep theirs)."""
    with _shared_lock:
        for key in _kept.pop(current_job(), {}):
            _drop_if_unkept(key)


@scene_kind("image", picture=ROOM, params={"stock": stock_param("photo", "image")})
class StillSource:
    """A still picture (the scene's `image`, or one generated from `promptImage`) and a camera move (`motion`)."""

    end_job = staticmethod(forget_pictures)

    def __init__(self, visual: SceneVisual):
        self.v = visual
        self.planes = self._shared_load(visual.picture)
        self._out = new_frame(visual.width, visual.height)
        self._fixed: np.ndarray | None = None      # the one frame of a camera that does not move
        self._still = len({self.camera(i) for i in range(visual.frames)}) == 1

    def _shared_load(self, path: Path | None) -> tuple[Plane, Plane, Plane]:
        v = self.v
        try:
            st = Path(path).stat()
        except (OSError, TypeError):
            return self._load(path)   # its error names the scene
        key = (str(path), st.st_ino, st.st_size, st.st_mtime_ns, v.width, v.height)
        return shared_planes(key, lambda: self._load(path))

    def _load(self, path: Path | None) -> tuple[Plane, Plane, Plane]:
        v = self.v
        try:
            with Image.open(path) as im:
                rgb = np.asarray(im.convert("RGB"))
        except Exception as exc:  # noqa: BLE001 - any decoder error means a bad picture
            name = Path(path).name if path is not None else "(none)"
            raise JobFailed(f"scenes[{v.index}]: cannot read picture {name}: {exc}",
                            scene=v.index, asset=str(path)) from None
        picture = rgb_to_i420(cover(rgb, even(v.width * ROOM), even(v.height * ROOM)))
        h, w = picture.shape[0] * 2 // 3, picture.shape[1]
        return tuple(Plane(p) for p in planes(picture, w, h))

    def camera(self, i: int) -> tuple[float, float, float]:
        """(k, tx, ty) of frame i: frame pixel (x, y) shows picture point (k*x + tx, k*y + ty)."""
        v, y = self.v, self.planes[0]
        return camera(v.motion, i / max(v.frames - 1, 1), (y.width, y.height), (v.width, v.height))

    def frame(self, i: int) -> np.ndarray:
        frame, v = self._out, self.v
        if self._fixed is not None:
            np.copyto(frame, self._fixed)
            return frame
        k, tx, ty = self.camera(i)
        src_y, src_u, src_v = self.planes
        out_y, out_u, out_v = planes(frame, v.width, v.height)
        # luma at full size, chroma at half size with half the offset
        src_y.move(k, tx, ty, out_y)
        src_u.move(k, tx / 2, ty / 2, out_u)
        src_v.move(k, tx / 2, ty / 2, out_v)
        if self._still:
            self._fixed = frame.copy()
        return frame

    def close(self) -> None:
        self._fixed = None
