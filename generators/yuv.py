"""Frames as YUV 4:2:0 (I420, BT.601 limited range), the format the encoder takes as is.

Working in I420 halves the bytes per frame (1.5 instead of 3), so every warp,
blend and pipe write costs about half, and ffmpeg needs no colour conversion.
A frame is one uint8 array of shape (H * 3 // 2, W): the Y plane, then U, then V.
"""
from __future__ import annotations

import cv2
import numpy as np


def planes(frame: np.ndarray, width: int, height: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Views of the Y, U and V planes of an I420 frame (writable, contiguous)."""
    q = (height // 2) * (width // 2)
    flat = frame.reshape(-1)
    y = flat[: width * height].reshape(height, width)
    u = flat[width * height: width * height + q].reshape(height // 2, width // 2)
    v = flat[width * height + q: width * height + 2 * q].reshape(height // 2, width // 2)
    return y, u, v


def rgb_to_i420(rgb: np.ndarray) -> np.ndarray:
    """RGB uint8 (H, W, 3) with even H and W -> I420 frame, BT.601 limited range (black 16, white 235).

    OpenCV's RGB -> I420 conversion gives limited range itself: no further scaling.
    """
    return cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2YUV_I420)


def even(n: float) -> int:
    return max(2, int(round(n)) // 2 * 2)


def new_frame(width: int, height: int) -> np.ndarray:
    return np.empty((height * 3 // 2, width), dtype=np.uint8)
