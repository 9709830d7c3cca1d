"""Frames of one scene: its frame source (generators/scenes, by scene kind) with its own
layers (generators/overlays: title, captions) drawn on top. The job's overlays are drawn
later, on the finished frames of a piece (generators/pieces.py).

Frames are made on the encoder threads beside x264, which already keeps every core
busy: OpenCV's own thread pool would only add hand-over costs, so it is turned off.
"""
from __future__ import annotations

import cv2
import numpy as np

from .overlays import layers_for
from .scenes import open_source
from .visual import SceneVisual

cv2.setNumThreads(1)


class SceneFrames:
    """frame(i) -> I420 frame (see generators/yuv.py) of local frame i; close() when done."""

    def __init__(self, visual: SceneVisual):
        self.v = visual
        self.source = open_source(visual)
        try:
            self.layers = layers_for(visual)
        except BaseException:
            self.source.close()
            raise

    def frame(self, i: int) -> np.ndarray:
        """Local frame i. The array may be reused by the source: it holds frame i until the next call."""
        frame = self.source.frame(i)
        for layer in self.layers:
            layer.draw(frame, i)
        return frame

    def close(self) -> None:
        for layer in self.layers:
            layer.close()
        self.source.close()
