"""Frames of one scene: the picture moved by one affine warp per frame, text blended on top.

The picture is scaled once to cover the frame with room for the camera move;
each frame is then a single cv2.warpAffine (no per-frame resize of the full
picture). Titles and subtitle lines are rasterized once and only blended.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from protovideo.errors import JobFailed

from .subtitles import Cue, cue_at
from .text_render import Overlay, place, render_text_block
from .yuv import even, new_frame, planes, rgb_to_i420

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
        self._src = None
        self._clip = None
        if visual.picture is not None:
            self._src = self._load_picture(visual.picture)
        elif visual.video is not None:
            self._open_clip(visual.video)

    # ---------------------------------------------------------------- sources
    def _load_picture(self, path: Path) -> np.ndarray:
        try:
            with Image.open(path) as im:
                rgb = np.asarray(im.convert("RGB"))
        except Exception as exc:  # noqa: BLE001 - any decoder error means a bad picture
            raise JobFailed(f"scenes[{self.v.index}]: cannot read picture {Path(path).name}: {exc}",
                            scene=self.v.index, asset=str(path)) from None
        picture = rgb_to_i420(cover(rgb, even(self.v.width * ROOM), even(self.v.height * ROOM)))
        h, w = picture.shape[0] * 2 // 3, picture.shape[1]
        return tuple(np.ascontiguousarray(p) for p in planes(picture, w, h))

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
    def _still(self, i: int) -> np.ndarray:
        v, (src_y, src_u, src_v) = self.v, self._src
        sh, sw = src_y.shape
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
        tx, ty = cx - k * v.width / 2, cy - k * v.height / 2
        frame = new_frame(v.width, v.height)
        out_y, out_u, out_v = planes(frame, v.width, v.height)
        flags, border = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, cv2.BORDER_REPLICATE
        # one warp per plane: luma at full size, chroma at half size with half the offset
        cv2.warpAffine(src_y, np.array([[k, 0, tx], [0, k, ty]]), (v.width, v.height), dst=out_y,
                       flags=flags, borderMode=border)
        chroma = np.array([[k, 0, tx / 2], [0, k, ty / 2]])
        for src, out in ((src_u, out_u), (src_v, out_v)):
            cv2.warpAffine(src, chroma, (v.width // 2, v.height // 2), dst=out, flags=flags, borderMode=border)
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


def crossfade(a: np.ndarray, b: np.ndarray, alpha: float) -> np.ndarray:
    return cv2.addWeighted(a, 1.0 - alpha, b, alpha, 0.0)
