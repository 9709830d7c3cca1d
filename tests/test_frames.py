"""Frame making: the cheap camera routes give warpAffine's pixels; frames, pictures and pieces in flow."""
from __future__ import annotations

import contextlib
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from generators import compose
from generators.compose import Piece, render_piece
from generators.encode import encoder_for
from generators.frames import SceneFrames, SceneVisual
from generators.pictures import PictureBoard
from generators.warp import Plane
from generators.yuv import planes, rgb_to_i420
from media import ffprobe, frames, streams


def smooth_plane(height: int, width: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return cv2.GaussianBlur((rng.random((height, width)) * 255).astype(np.uint8), (5, 5), 1.5)


def reference(src: np.ndarray, k: float, tx: float, ty: float, size: tuple[int, int]) -> np.ndarray:
    return cv2.warpAffine(src, np.array([[k, 0.0, tx], [0.0, k, ty]]), size,
                          flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE)


def test_every_route_gives_the_pixels_of_an_affine_warp():
    src = smooth_plane(552, 314)
    plane = Plane(src)
    rng = np.random.default_rng(1)
    routes: dict[str, list[float]] = {}
    for _ in range(150):
        k = float(rng.choice([1.0, rng.uniform(1.0, 1.15), rng.uniform(1.0, 1.004), rng.uniform(0.9, 1.0)]))
        tx, ty = rng.uniform(-6, 314 - k * 270 + 6), rng.uniform(-6, 552 - k * 480 + 6)
        out = np.zeros((480, 270), np.uint8)
        route = plane.move(k, tx, ty, out)
        diff = np.abs(out.astype(int) - reference(src, k, tx, ty, (270, 480)))
        assert diff.max() <= 2, (route, k, tx, ty)
        routes.setdefault(route, []).append(float(diff.mean()))
    assert set(routes) == {"subpix", "resize", "warp"}
    assert all(np.mean(errors) < 0.3 for errors in routes.values()), {r: np.mean(e) for r, e in routes.items()}


def _picture(tmp_path: Path) -> Path:
    rgb = np.stack([smooth_plane(560, 320, s) for s in range(3)], axis=-1)
    path = tmp_path / "picture.png"
    Image.fromarray(rgb).save(path)
    return path


@pytest.mark.parametrize("motion", ["zoom_in", "zoom_out", "pan_left", "pan_right", "none"])
def test_scene_frames_follow_the_camera(tmp_path, motion):
    visual = SceneVisual(width=270, height=480, fps=12, frames=24, motion=motion, picture=_picture(tmp_path))
    scene = SceneFrames(visual)
    made = [scene.frame(i).copy() for i in range(visual.frames)]   # the frame array is reused
    y_src = scene._src[0].pixels
    for i in (0, 7, 12, 23):
        k, tx, ty = scene.camera(i)
        y = planes(made[i], 270, 480)[0]
        assert np.abs(y.astype(int) - reference(y_src, k, tx, ty, (270, 480))).max() <= 2
    moved = [float(np.abs(a.astype(int) - b).mean()) for a, b in zip(made, made[1:])]
    if motion == "none":
        assert max(moved) == 0.0
    else:
        assert min(moved) > 0.0 and not np.array_equal(made[0], made[-1])


def test_picture_board_hands_over_each_scene_as_it_comes():
    board = PictureBoard()
    got = []
    reader = threading.Thread(target=lambda: got.append(board.get(1)))
    reader.start()
    time.sleep(0.05)
    assert not got                      # waiting for scene 1
    board.put(0, Path("a.png"), None)
    board.put(1, Path("b.png"), None)
    reader.join(timeout=5)
    assert got == [(Path("b.png"), None)]
    board.end()
    assert board.get(2) == (None, None)

    failing = PictureBoard()
    failing.put(0, Path("a.png"), None)
    failing.end(RuntimeError("picture provider down"))
    assert failing.get(0) == (Path("a.png"), None)
    with pytest.raises(RuntimeError, match="provider down"):
        failing.get(1)


def test_a_piece_gives_up_its_feeding_turn_before_the_encoder_drains(tmp_path, monkeypatch):
    """The next piece is fed while x264 still finishes this one; the piece still plays in full.
    Its step time starts with its turn (waiting for the turn is not work) and ends with x264."""
    turn = threading.Semaphore(1)
    held_at_wait = []
    timed = []

    @contextlib.contextmanager
    def timing():
        timed.append(("start", not turn.acquire(blocking=False)))
        yield
        timed.append(("end", len(held_at_wait)))

    class WatchedEncoder(compose.FrameEncoder):
        def wait(self):
            free = turn.acquire(blocking=False)
            held_at_wait.append(not free)
            if free:
                turn.release()
            super().wait()

    monkeypatch.setattr(compose, "FrameEncoder", WatchedEncoder)
    visual = SceneVisual(width=270, height=480, fps=12, frames=18, motion="zoom_in", picture=_picture(tmp_path))
    out = tmp_path / "body.mp4"
    render_piece(Piece("body", (0,), 0, 18), [visual], encoder_for("draft", 12, 270, 480), out, feeding=turn,
                 timing=timing())
    assert held_at_wait == [False]
    assert timed == [("start", True), ("end", 1)]   # began holding the turn, ended after the drain
    video = streams(ffprobe(out), "video")[0]
    assert int(video["nb_read_frames"]) == 18


def test_colours_come_out_of_the_video_as_they_went_in(tmp_path):
    """White, red and black bands, through I420 and x264, decode to white, red and black
    (BT.601 limited range, scaled once: not washed out)."""
    rgb = np.zeros((480, 270, 3), np.uint8)
    rgb[:160] = 255
    rgb[160:320, :, 0] = 255
    out = tmp_path / "colours.mp4"
    encoder = compose.FrameEncoder(out, encoder_for("high", 12, 270, 480))
    frame = rgb_to_i420(rgb)
    for _ in range(3):
        encoder.write(frame)
    encoder.end_input()
    encoder.wait()
    decoded = frames(out, 270, 480)[1].astype(int)
    for band, colour in ((slice(20, 140), (255, 255, 255)), (slice(180, 300), (255, 0, 0)),
                         (slice(340, 460), (0, 0, 0))):
        assert np.abs(decoded[band, 20:250] - colour).max() <= 8, (colour, decoded[band, 20:250].mean(axis=(0, 1)))
