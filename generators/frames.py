"""Frames of one scene: the picture moved by one affine warp per frame, text blended on top.

The picture is scaled once to cover the frame with room for the camera move;
each frame is then one scale-and-shift per plane (generators/warp.py: a subpixel
crop for pans, an exact-scale resize for zooms, an affine warp where neither is
exact), never a resize of the full picture. A still without motion is made once.
Titles and subtitle lines are rasterized once and only blended.

Frames are made on the encoder threads beside x264, which already keeps every core
busy: OpenCV's own thread pool would only add hand-over costs, so it is turned off.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from jobmodel.errors import JobFailed

from .subtitles import Cue, cue_at
from .text_render import Overlay, place, render_text_block
from .warp import Plane
from .yuv import even, new_frame, planes, rgb_to_i420

cv2.setNumThreads(1)

ROOM = 1.15  # the picture covers the frame this much larger, for zoom and pan


@dataclass(frozen=True)
class TextSpec:
    content: str
    position: str
    font_size: int
    color: str
    stroke_color: str = "black"
    box: bool = False


@dataclass(frozen=True)
class SceneVisual:
    """Everything that decides how a scene looks, frame by frame."""
    width: int
    height: int
    fps: int
    frames: int                    # frames in the scene's own slot
    motion: str = "zoom_in"
    picture: Path | None = None    # still picture (image scenes)
    video: Path | None = None      # clip (video scenes)
    title: TextSpec | None = None
    cues: tuple[Cue, ...] = ()
    subtitle_style: TextSpec | None = None  # content unused: the cue text is drawn
    index: int = 0


def cover(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Scale to cover width x height (keeping aspect), then crop the centre."""
    h, w = image.shape[:2]
    scale = max(width / w, height / h)
    new_w, new_h = max(width, round(w * scale)), max(height, round(h * scale))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    resized = cv2.resize(image, (new_w, new_h), interpolation=interp)
    x0, y0 = (new_w - width) // 2, (new_h - height) // 2
    return resized[y0:y0 + height, x0:x0 + width]


MOVING = ("zoom_in", "zoom_out", "pan_left", "pan_right")


def _ease(p: float) -> float:
    return p * p * (3 - 2 * p)


class SceneFrames:
    """frame(i) -> I420 frame (see generators/yuv.py) for local frame i (clamped to the slot)."""

    def __init__(self, visual: SceneVisual):
        self.v = visual
        self._overlays: dict[int, Overlay] = {}
        self._title = None
        if visual.title is not None:
            t = visual.title
            self._title = place(render_text_block(t.content, t.font_size, t.color, int(visual.width * 0.9),
                                                  t.stroke_color, t.box), visual.width, visual.height, t.position)
        self._src: tuple[Plane, Plane, Plane] | None = None
        self._fixed: np.ndarray | None = None   # the one frame of a still without motion
        self._out = new_frame(visual.width, visual.height) if visual.picture is not None else None
        self._clip = None
        if visual.picture is not None:
            self._src = self._load_picture(visual.picture)
        elif visual.video is not None:
            self._open_clip(visual.video)

    # ---------------------------------------------------------------- sources
    def _load_picture(self, path: Path) -> tuple[Plane, Plane, Plane]:
        try:
            with Image.open(path) as im:
                rgb = np.asarray(im.convert("RGB"))
        except Exception as exc:  # noqa: BLE001 - any decoder error means a bad picture
            raise JobFailed(f"scenes[{self.v.index}]: cannot read picture {Path(path).name}: {exc}",
                            scene=self.v.index, asset=str(path)) from None
        picture = rgb_to_i420(cover(rgb, even(self.v.width * ROOM), even(self.v.height * ROOM)))
        h, w = picture.shape[0] * 2 // 3, picture.shape[1]
        return tuple(Plane(p) for p in planes(picture, w, h))

    def _open_clip(self, path: Path) -> None:
        from moviepy import VideoFileClip
        try:
            self._clip = VideoFileClip(str(path), audio=False)
            self._clip_duration = float(self._clip.duration or 0)
        except Exception as exc:  # noqa: BLE001
            raise JobFailed(f"scenes[{self.v.index}]: cannot read video {Path(path).name}: {exc}",
                            scene=self.v.index, asset=str(path)) from None
        if self._clip_duration <= 0:
            raise JobFailed(f"scenes[{self.v.index}]: video {Path(path).name} has no frames",
                            scene=self.v.index, asset=str(path))

    def close(self) -> None:
        if self._clip is not None:
            self._clip.close()
            self._clip = None

    # ---------------------------------------------------------------- frames
    def camera(self, i: int) -> tuple[float, float, float]:
        """(k, tx, ty) of still frame i: output pixel (x, y) shows picture point (k*x + tx, k*y + ty)."""
        v, src_y = self.v, self._src[0]
        sh, sw = src_y.height, src_y.width
        p = _ease(min(max(i / max(v.frames - 1, 1), 0.0), 1.0))
        k_wide = sw / v.width          # whole picture visible
        slack_x = sw - v.width         # room to pan at 1:1
        cx, cy, k = sw / 2, sh / 2, k_wide
        if v.motion == "zoom_in":
            k = k_wide + (1.0 - k_wide) * p
        elif v.motion == "zoom_out":
            k = 1.0 + (k_wide - 1.0) * p
        elif v.motion in ("pan_left", "pan_right"):
            k = 1.0
            direction = 1 if v.motion == "pan_right" else -1
            cx = sw / 2 + direction * slack_x * (p - 0.5)
        return k, cx - k * v.width / 2, cy - k * v.height / 2

    def _still(self, i: int) -> np.ndarray:
        frame, v = self._out, self.v
        if self._fixed is not None:
            np.copyto(frame, self._fixed)
            return frame
        k, tx, ty = self.camera(i)
        src_y, src_u, src_v = self._src
        out_y, out_u, out_v = planes(frame, v.width, v.height)
        # luma at full size, chroma at half size with half the offset
        src_y.move(k, tx, ty, out_y)
        src_u.move(k, tx / 2, ty / 2, out_u)
        src_v.move(k, tx / 2, ty / 2, out_v)
        if v.motion not in MOVING:
            self._fixed = frame.copy()
        return frame

    def _video_frame(self, i: int) -> np.ndarray:
        t = (max(i, 0) / self.v.fps) % self._clip_duration
        t = min(t, max(self._clip_duration - 1.0 / max(self._clip.fps or 25, 1), 0))
        try:
            frame = self._clip.get_frame(t)
        except Exception as exc:  # noqa: BLE001
            raise JobFailed(f"scenes[{self.v.index}]: video {self.v.video.name} is damaged: {exc}",
                            scene=self.v.index, asset=str(self.v.video)) from None
        return rgb_to_i420(cover(frame[..., :3].astype(np.uint8), self.v.width, self.v.height))

    def frame(self, i: int) -> np.ndarray:
        """Local frame i. The array of a still scene is reused: it holds frame i until the next call."""
        frame = self._still(i) if self._src is not None else self._video_frame(i)
        if self._title is not None:
            self._title.blend_onto(frame, self.v.width, self.v.height)
        if self.v.cues:
            k = cue_at(list(self.v.cues), i / self.v.fps)
            if k is not None:
                self._subtitle(k).blend_onto(frame, self.v.width, self.v.height)
        return frame

    def _subtitle(self, k: int) -> Overlay:
        if k not in self._overlays:
            s = self.v.subtitle_style
            image = render_text_block(self.v.cues[k].text, s.font_size, s.color, int(self.v.width * 0.9),
                                      s.stroke_color, box=True)
            self._overlays[k] = place(image, self.v.width, self.v.height, s.position, margin_frac=0.12)
        return self._overlays[k]


def crossfade(a: np.ndarray, b: np.ndarray, alpha: float, out: np.ndarray | None = None) -> np.ndarray:
    return cv2.addWeighted(a, 1.0 - alpha, b, alpha, 0.0, dst=out)
