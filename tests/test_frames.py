"""Frame making: the cheap camera routes give warpAffine's pixels; each motion shows a marked picture
where the move puts it (worked out by hand); colours survive I420 and x264; pictures and pieces in flow."""
from __future__ import annotations

import contextlib
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from generators import compose
from generators.compose import Piece, render_piece
from generators.encode import encoder_for
from generators.frames import SceneFrames
from generators.pictures import PictureBoard
from generators.visual import SceneVisual
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


# A picture of exactly the size a 270x480 frame's picture is scaled to (ROOM 1.15: 310x552,
# so it is used as is), black, with two white 20x20 marks whose centres are known.
PICTURE_W, PICTURE_H = 310, 552
MARKS = ((69.5, 109.5), (229.5, 429.5))     # pixels [60, 80) x [100, 120) and [220, 240) x [420, 440)
WIDE = 310 / 270                            # the whole picture's width in the 270-wide frame


def marked_picture(tmp_path: Path) -> Path:
    rgb = np.zeros((PICTURE_H, PICTURE_W, 3), np.uint8)
    for cx, cy in MARKS:
        x, y = int(cx - 9.5), int(cy - 9.5)
        rgb[y:y + 20, x:x + 20] = 255
    path = tmp_path / "marks.png"
    Image.fromarray(rgb).save(path)
    return path


def seen_marks(frame: np.ndarray) -> list[tuple[float, float, float]]:
    """(x, y, area) of the top and the bottom mark in a 270x480 I420 frame, from the luma."""
    light = np.clip(planes(frame, 270, 480)[0].astype(float) - 16, 0, None) / 219   # limited range: 16 black
    found = []
    for band in (slice(0, 240), slice(240, 480)):
        w = light[band]
        ys, xs = np.mgrid[band, 0:270]
        found.append((float((w * xs).sum() / w.sum()), float((w * ys).sum() / w.sum()), float(w.sum())))
    return found


def _centred(k: float) -> tuple[float, float, float]:
    """Scale k with the view in the middle of the picture: frame centre (134.5, 239.5) shows (154.5, 275.5)."""
    return k, 155 - 135 * k, 276 - 240 * k


# What each move shows, worked out from what it means, at frames 0, 6 (eased progress
# 3p^2 - 2p^3 = 0.15625 of p = 1/4), 12 (half way) and 24 of a 25-frame scene:
# (k, tx, ty) with frame pixel (x, y) showing picture point (k*x + tx, k*y + ty).
AT = (0, 6, 12, 24)
EASED = (0.0, 0.15625, 0.5, 1.0)
EXPECTED = {
    # the whole width at first, then closer until the picture shows at 1:1, centred
    "zoom_in": [_centred(WIDE + (1 - WIDE) * e) for e in EASED],
    "zoom_out": [_centred(1 + (WIDE - 1) * e) for e in EASED],
    # at 1:1, vertically centred (ty = (552 - 480) / 2), across the 40 spare pixels of width
    "pan_right": [(1.0, 40 * e, 36.0) for e in EASED],
    "pan_left": [(1.0, 40 * (1 - e), 36.0) for e in EASED],
    # at 1:1, horizontally centred (tx = (310 - 270) / 2), across the 72 spare pixels of height
    "pan_down": [(1.0, 20.0, 72 * e) for e in EASED],
    "pan_up": [(1.0, 20.0, 72 * (1 - e)) for e in EASED],
    "none": [_centred(WIDE)] * 4,
}


@pytest.mark.parametrize("motion", sorted(EXPECTED))
def test_scene_frames_show_the_marks_where_the_camera_puts_them(tmp_path, motion):
    visual = SceneVisual(width=270, height=480, fps=12, frames=25, motion=motion, picture=marked_picture(tmp_path))
    scene = SceneFrames(visual)
    made = [scene.frame(i).copy() for i in range(visual.frames)]   # the frame array is reused
    scene.close()
    for i, (k, tx, ty) in zip(AT, EXPECTED[motion]):
        for (px, py), (x, y, area) in zip(MARKS, seen_marks(made[i])):
            assert abs(x - (px - tx) / k) < 0.08 and abs(y - (py - ty) / k) < 0.08, (i, (x, y), (k, tx, ty))
            assert abs(area - 400 / k ** 2) < 400 * 0.01, (i, area, k)
    moved = [float(np.abs(a.astype(int) - b).mean()) for a, b in zip(made, made[1:])]
    if motion == "none":
        assert max(moved) == 0.0
    else:
        assert min(moved) > 0.0 and not np.array_equal(made[0], made[-1])


@pytest.mark.parametrize("motion, moves", [("pan_up", 72), ("pan_down", -72)])
def test_vertical_pans_move_the_picture_down_or_up_in_the_video(tmp_path, motion, moves):
    """Rendered and decoded: under pan_up the camera climbs, so the marks slide down the
    frame by the 72 spare rows of the picture; under pan_down they slide up. Nothing moves sideways."""
    visual = SceneVisual(width=270, height=480, fps=12, frames=18, motion=motion, picture=marked_picture(tmp_path))
    out = tmp_path / f"{motion}.mp4"
    render_piece(Piece("body", (0,), 0, 18), [visual], encoder_for("high", 12, 270, 480), out)
    video = frames(out, 270, 480)
    assert len(video) == 18
    first, last = (seen_marks(rgb_to_i420(np.ascontiguousarray(video[i]))) for i in (0, -1))
    for (x0, y0, _), (x1, y1, _) in zip(first, last):
        assert abs((y1 - y0) - moves) < 1.0 and abs(x1 - x0) < 0.5, ((x0, y0), (x1, y1))
    ys = [seen_marks(rgb_to_i420(np.ascontiguousarray(f)))[0][1] for f in video]
    steps = np.diff(ys) * np.sign(moves)
    assert (steps > 0).all(), ys        # every frame a little further, in one direction


class WatchedCondition(threading.Condition):
    """A Condition that tells when a waiter has gone to sleep on it (and how many times)."""

    def __init__(self):
        super().__init__()
        self.sleeps = threading.Semaphore(0)

    def wait(self, timeout=None):
        self.sleeps.release()           # called with the lock held, just before sleeping
        return super().wait(timeout)


def test_picture_board_hands_over_each_scene_as_it_comes():
    board = PictureBoard()
    board._cond = watched = WatchedCondition()
    got = []
    reader = threading.Thread(target=lambda: got.append(board.get(1)))
    reader.start()
    assert watched.sleeps.acquire(timeout=60)   # the reader is asleep in get(1) (60 s bounds a hang)
    assert not got                      # waiting for scene 1
    board.put(0, Path("a.png"))
    assert watched.sleeps.acquire(timeout=60)   # woke for scene 0 and went back to sleep
    assert not got                      # still waiting for scene 1
    board.put(1, None, (("video", Path("b.mp4")),))
    reader.join(timeout=60)
    assert got == [(None, (("video", Path("b.mp4")),))] and got[0].file("video") == Path("b.mp4")
    board.end()
    assert board.get(2) == (None, ())

    failing = PictureBoard()
    failing.put(0, Path("a.png"))
    failing.end(RuntimeError("picture provider down"))
    assert failing.get(0) == (Path("a.png"), ())
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


def test_pieces_of_a_scene_share_its_picture_and_a_rewritten_picture_is_read_again(tmp_path):
    from generators.scenes.still import StillSource, forget_pictures
    forget_pictures()
    path = marked_picture(tmp_path)
    body = SceneVisual(width=270, height=480, fps=12, frames=25, motion="zoom_in", picture=path)
    fade = SceneVisual(width=270, height=480, fps=12, frames=8, motion="zoom_in", picture=path)
    a, b = StillSource(body), StillSource(fade)     # a scene's body and one of its crossfades
    assert all(p is q for p, q in zip(a.planes, b.planes))
    small = StillSource(SceneVisual(width=136, height=240, fps=12, frames=8, motion="none", picture=path))
    assert small.planes[0] is not a.planes[0] and small.planes[0].width < a.planes[0].width
    # the same path with another picture in it (cache entries are replaced, never edited): read again
    Image.new("RGB", (PICTURE_W + 2, PICTURE_H), (255, 0, 0)).save(path)
    red = StillSource(body)
    assert red.planes[0] is not a.planes[0]
    assert abs(int(np.median(red.planes[0].pixels)) - 82) <= 1   # BT.601 limited-range luma of pure red
    forget_pictures()
    assert StillSource(body).planes[0] is not red.planes[0]


def test_shared_planes_load_once_for_waiting_threads_and_keep_no_failure():
    from generators.scenes.still import forget_pictures, shared_planes
    forget_pictures()
    started, release, calls = threading.Event(), threading.Event(), []

    def slow_load():
        calls.append(1)
        started.set()
        release.wait(5)
        return ("y", "u", "v")

    results = []
    first = threading.Thread(target=lambda: results.append(shared_planes(("pic", 1), slow_load)))
    first.start()
    started.wait(5)
    second = threading.Thread(target=lambda: results.append(shared_planes(("pic", 1), slow_load)))
    second.start()
    release.set()
    first.join(5)
    second.join(5)
    assert results == [("y", "u", "v")] * 2 and len(calls) == 1

    def broken():
        raise OSError("unreadable picture")

    with pytest.raises(OSError):
        shared_planes(("pic", 2), broken)
    assert shared_planes(("pic", 2), lambda: ("again",)) == ("again",)   # the failure was not kept
    forget_pictures()
