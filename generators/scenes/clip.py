"""Video scenes: a clip played from its start, looped when the scene is longer, cut when shorter,
scaled to cover the frame and cropped at the centre."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from jobmodel.errors import JobFailed
from jobmodel.stock import stock_param

from ..visual import SceneVisual
from ..yuv import rgb_to_i420
from . import cover, scene_kind


@scene_kind("video", owns=("video", "volume"), needs=("video|stock",), files=("video",),
            params={"stock": stock_param("clip", "video")})
class ClipSource:
    """A video clip (`video`), trimmed or looped to the scene, cropped to fit; its own sound at `volume`."""

    def __init__(self, visual: SceneVisual):
        from moviepy import VideoFileClip
        self.v = visual
        path = Path(visual.video)
        try:
            self._clip = VideoFileClip(str(path), audio=False)
            self._duration = float(self._clip.duration or 0)
        except Exception as exc:  # noqa: BLE001
            raise JobFailed(f"scenes[{visual.index}]: cannot read video {path.name}: {exc}",
                            scene=visual.index, asset=str(path)) from None
        if self._duration <= 0:
            self.close()
            raise JobFailed(f"scenes[{visual.index}]: video {path.name} has no frames",
                            scene=visual.index, asset=str(path))
        # the last frame the clip can give (moviepy's get_frame past it repeats or fails)
        self._last = max(self._duration - 1.0 / max(self._clip.fps or 25, 1), 0)

    def frame(self, i: int) -> np.ndarray:
        t = min((max(i, 0) / self.v.fps) % self._duration, self._last)
        try:
            rgb = self._clip.get_frame(t)
        except Exception as exc:  # noqa: BLE001
            raise JobFailed(f"scenes[{self.v.index}]: video {Path(self.v.video).name} is damaged: {exc}",
                            scene=self.v.index, asset=str(self.v.video)) from None
        return rgb_to_i420(cover(rgb[..., :3].astype(np.uint8), self.v.width, self.v.height))

    def close(self) -> None:
        if self._clip is not None:
            self._clip.close()
            self._clip = None
