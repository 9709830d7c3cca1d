"""Frames as YUV 4:2:0 (I420, BT.601 limited range), the format the encoder takes as is.

Working in I420 halves the bytes per frame (1.5 instead of 3), so every warp,
blend and pipe write costs about half, and ffmpeg needs no colour conversion.
A frame is one uint8 array of shape (H * 3 // 2, W): the Y plane, then U, then V.
"""
from __future__ import annotations

import cv2
import numpy as np

# OpenCV converts to full-range BT.601; the video is tagged limited ("tv") range.
_Y_LUT = np.round(16 + np.arange(256) * 219 / 255).astype(np.uint8)
_C_LUT = np.round(128 + (np.arange(256) - 128) * 224 / 255).clip(0, 255).astype(np.uint8)


def planes(frame: np.ndarray, width: int, height: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Views of the Y, U and V planes of an I420 frame (writable, contiguous)."""
    q = (height // 2) * (width // 2)
    flat = frame.reshape(-1)
    y = flat[: width * height].reshape(height, width)
    u = flat[width * height: width * height + q].reshape(height // 2, width // 2)
    v = flat[width * height + q: width * height + 2 * q].reshape(height // 2, width // 2)
    return y, u, v


def rgb_to_i420(rgb: np.ndarray) -> np.ndarray:
    """RGB uint8 (H, W, 3) with even H and W -> I420 frame, limited range."""
    h, w = rgb.shape[:2]
    frame = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2YUV_I420)
    y, u, v = planes(frame, w, h)
    cv2.LUT(y, _Y_LUT, dst=y)
    cv2.LUT(u, _C_LUT, dst=u)
    cv2.LUT(v, _C_LUT, dst=v)
    return frame


def even(n: float) -> int:
    return max(2, int(round(n)) // 2 * 2)


def new_frame(width: int, height: int) -> np.ndarray:
    return np.empty((height * 3 // 2, width), dtype=np.uint8)


def i420_to_rgb(frame: np.ndarray) -> np.ndarray:
    """For checks and previews: I420 limited range -> RGB (approximate inverse)."""
    h2, w = frame.shape
    h = h2 * 2 // 3
    y, u, v = planes(frame.copy(), w, h)
    inv_y = np.clip((np.arange(256) - 16) * 255 / 219, 0, 255).astype(np.uint8)
    inv_c = np.clip(128 + (np.arange(256) - 128) * 255 / 224, 0, 255).astype(np.uint8)
    full = frame.copy()
    fy, fu, fv = planes(full, w, h)
    cv2.LUT(y, inv_y, dst=fy)
    cv2.LUT(u, inv_c, dst=fu)
    cv2.LUT(v, inv_c, dst=fv)
    return cv2.cvtColor(full, cv2.COLOR_YUV2RGB_I420)
