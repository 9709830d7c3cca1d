"""Pieces are keyed by their plug-ins' names and their files' content: a changed transition name
re-renders only the transition it names; a file changed at the same path re-renders the pieces
that show it, never serves them stale. Counted as the report counts them (cache_stats by kind)."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from generators import overlays, transitions
from generators.plugins import unregister
from generators.yuv import planes
from jobmodel.catalogue import Param
from job_parsing import parse_job
from media import frames
from protovideo.pipeline.render import make_context, render_job

W, H, FPS = 160, 284, 12
COLOURS = ((200, 40, 40), (40, 200, 40), (40, 40, 200))
HUGE = 10**7


def _pictures(tmp_path):
    names = []
    for n, colour in enumerate(COLOURS):
        Image.new("RGB", (W * 2, H * 2), colour).save(tmp_path / f"c{n}.png")
        names.append(f"c{n}.png")
    return names


def _job(tmp_path, job_id, transition_1=None, overlay=None):
    scenes = [{"image": name, "duration": 1.5, "motion": "none"} for name in _pictures(tmp_path)]
    if transition_1:
        scenes[1]["transition"] = transition_1
    data = {"id": job_id, "video": {"width": W, "height": H, "fps": FPS, "quality": "draft",
                                    "transition": "crossfade", "transition_duration": 0.5},
            "scenes": scenes}
    if overlay:
        data["overlays"] = [overlay]
    return parse_job(data, tmp_path)


def _by_kind(result) -> dict:
    return json.loads(result.report_path.read_text())["cache_stats"]["by_kind"]


@pytest.fixture
def settings(make_settings):
    return make_settings(MEMORY_WARNING_THRESHOLD=HUGE, MEMORY_CRITICAL_THRESHOLD=HUGE)


@pytest.fixture
def halves():
    """A transition of our own: the left half of the frame from the outgoing scene, the right from the incoming."""
    @transitions.transition("test_halves")
    class Halves:
        def __init__(self, span):
            self.span, self.out = span, None

        def frame(self, a, b, k):
            self.out = a.copy()
            for pa, pb in zip(planes(self.out, self.span.width, self.span.height),
                              planes(b, self.span.width, self.span.height)):
                pa[:, pa.shape[1] // 2:] = pb[:, pb.shape[1] // 2:]
            return self.out
    yield "test_halves"
    unregister(transitions.TRANSITIONS, "test_halves")


def test_a_changed_transition_name_remakes_only_its_own_piece(settings, tmp_path, halves):
    first = render_job(_job(tmp_path, "names-a"), make_context(settings))
    assert first.report["pieces"] == 5                         # 3 bodies, 2 crossfades
    assert _by_kind(first)["piece"]["misses"] == 5
    second = render_job(_job(tmp_path, "names-b", transition_1=halves), make_context(settings))
    kinds = _by_kind(second)
    assert kinds["piece"] == {"hits": 4, "misses": 1, "hit_rate": 0.8}   # only the transition 1 -> 2
    assert kinds["soundtrack"]["misses"] == 0 and kinds["joined"]["misses"] == 1
    # and it is the new transition that shows there, not a crossfade served from the cache:
    # the boundary 1 -> 2 is at 2 * 18 frames; h = 3 frames either side
    video = frames(second.output, W, H).astype(int)
    middle = video[2 * 18]
    left, right = middle[:, : W // 2 - 4].mean(axis=(0, 1)), middle[:, W // 2 + 4:].mean(axis=(0, 1))
    assert np.abs(left - COLOURS[1]).max() < 20 and np.abs(right - COLOURS[2]).max() < 20, (left, right)
    crossfaded = frames(first.output, W, H).astype(int)[2 * 18]
    assert np.abs(crossfaded[:, :W // 2 - 4].mean(axis=(0, 1)) - crossfaded[:, W // 2 + 4:].mean(axis=(0, 1))).max() < 8


@pytest.fixture
def stamp():
    """An overlay of our own with a file: a 40x40 square of its picture's colour, top left."""
    @overlays.overlay("test_stamp", z=50, params={"image": Param(asset="image", required=True)})
    class Stamp:
        def __init__(self, use, canvas):
            from generators.yuv import rgb_to_i420
            rgb = np.asarray(Image.open(use.param("image")).convert("RGB").resize((40, 40)))
            self.yuv = planes(rgb_to_i420(rgb), 40, 40)
            self.canvas = canvas

        def draw(self, frame, g):
            for target, source in zip(planes(frame, self.canvas.width, self.canvas.height), self.yuv):
                target[:source.shape[0], :source.shape[1]] = source

        def close(self):
            pass
    yield "test_stamp"
    unregister(overlays.OVERLAYS, "test_stamp")


def test_a_file_changed_at_the_same_path_is_drawn_again_not_served_stale(settings, tmp_path, stamp):
    mark = tmp_path / "mark.png"
    Image.new("RGB", (40, 40), (255, 255, 255)).save(mark)
    overlay = {"type": stamp, "image": "mark.png"}
    first = render_job(_job(tmp_path, "files-a", overlay=overlay), make_context(settings))
    assert frames(first.output, W, H)[5, 5:35, 5:35].mean() > 235
    again = render_job(_job(tmp_path, "files-b", overlay=overlay), make_context(settings))
    assert _by_kind(again)["piece"] == {"hits": 5, "misses": 0, "hit_rate": 1.0}
    Image.new("RGB", (40, 40), (0, 0, 0)).save(mark)           # same path, new content
    changed = render_job(_job(tmp_path, "files-c", overlay=overlay), make_context(settings))
    kinds = _by_kind(changed)
    assert kinds["piece"] == {"hits": 0, "misses": 5, "hit_rate": 0.0}   # every piece shows the stamp
    assert kinds["soundtrack"]["misses"] == 0
    assert frames(changed.output, W, H)[5, 5:35, 5:35].mean() < 20
