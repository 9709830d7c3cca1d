"""The logo overlay: its box worked out from size, margin and position and measured on the frame, its
opacity measured from the blend; in a render it stays put through a slide; a new logo file at the
same path re-renders the pieces (and only the pieces) that show it."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from generators.overlays import overlays_for
from generators.visual import Canvas, OverlayUse
from generators.yuv import planes
from jobmodel.errors import JobInvalid
from job_parsing import parse_job
from media import frames
from protovideo.pipeline.render import make_context, render_job
from transition_helpers import flat_frame, render_two

W, H = 270, 480


def logo_file(tmp_path, colour=(255, 255, 255, 255), size=(100, 50), name="logo.png"):
    path = tmp_path / name
    Image.new("RGBA", size, colour).save(path)
    return path


def drawn(path, **params) -> np.ndarray:
    frame = flat_frame(16)                              # black
    (layer,) = overlays_for([OverlayUse("logo", tuple({"image": path, **params}.items()))], Canvas(W, H, 12))
    layer.draw(frame, 0)
    layer.close()
    return planes(frame, W, H)[0].astype(int)


def box(y: np.ndarray) -> tuple[int, int, int, int]:
    rows, cols = np.nonzero(y != 16)
    return int(cols.min()), int(rows.min()), int(cols.max()) + 1, int(rows.max()) + 1


# 100x50 logo, size 0.2 of 270: 54 wide, 27 -> 28 high (even); margin 0.04 of 270: 10.8 -> 10 (even)
EXPECTED = {"top_right": (270 - 10 - 54, 10), "top_left": (10, 10), "bottom_left": (10, 480 - 10 - 28),
            "bottom_right": (270 - 10 - 54, 480 - 10 - 28), "center": (108, 226)}


@pytest.mark.parametrize("position", sorted(EXPECTED))
def test_the_logo_sits_where_size_margin_and_position_put_it(tmp_path, position):
    y = drawn(logo_file(tmp_path), position=position, size=0.2, opacity=1.0, margin=0.04)
    x0, y0 = EXPECTED[position]
    assert box(y) == (x0, y0, x0 + 54, y0 + 28)
    assert (y[y0:y0 + 28, x0:x0 + 54] == 235).all()          # opaque white


def test_the_opacity_is_the_share_of_the_logo_in_the_blend(tmp_path):
    for opacity in (0.85, 0.5, 0.2):
        y = drawn(logo_file(tmp_path), size=0.2, opacity=opacity)
        inside = y[10:38, 206:260]
        assert abs(inside.mean() - (16 + (235 - 16) * opacity)) <= 1.0, opacity   # limited range: 16 .. 235
        assert np.ptp(inside) <= 1
    # the picture's own alpha is kept: 50% alpha at opacity 0.5 is a quarter of the logo
    y = drawn(logo_file(tmp_path, colour=(255, 255, 255, 128)), size=0.2, opacity=0.5)
    assert abs(y[10:38, 206:260].mean() - (16 + 219 * 128 / 255 * 0.5)) <= 1.0


def test_the_job_model_checks_a_logos_fields(tmp_path):
    logo_file(tmp_path)
    job = parse_job({"scenes": [{"duration": 1}], "overlays": [{"type": "logo", "image": "logo.png"}]}, tmp_path)
    (logo,) = job.overlays
    assert (logo.param("position"), logo.param("size"), logo.param("opacity")) == ("top_right", 0.12, 0.85)
    for item, field in (({"type": "logo"}, "overlays[0].image"),
                        ({"type": "logo", "image": "logo.png", "opacity": 2}, "overlays[0].opacity"),
                        ({"type": "logo", "image": "logo.png", "position": "middle"}, "overlays[0].position"),
                        ({"type": "logo", "image": "../logo.png"}, "overlays[0].image")):
        with pytest.raises(JobInvalid) as info:
            parse_job({"scenes": [{"duration": 1}], "overlays": [item]}, tmp_path)
        assert info.value.field == field, item


def test_a_rendered_logo_stays_in_place_through_a_slide(tmp_path, make_settings):
    green = logo_file(tmp_path, colour=(0, 255, 0, 255), size=(40, 40), name="green.png")
    video = render_two(tmp_path, make_settings(), "slide_left", extra={"overlays": [
        {"type": "logo", "image": green.name, "position": "top_left", "size": 0.25, "opacity": 0.5,
         "margin": 0.05}]})
    # 160 wide: a 40 px logo at (8, 8) (margin 0.05 x 160); the slide's frames are 18-29, its edge
    # crossing the logo around frame 26: the logo does not move with the scenes, it is drawn after the mix
    for n in range(0, 48, 2):
        frame = video[n].astype(float)
        logo = frame[10:46, 10:46]
        assert abs(logo[..., 1].mean() - (30 + 255) / 2) < 10 and np.ptp(logo[..., 1]) < 30, n   # half green
        assert frame[10:46, 2:6, 1].mean() < 45 and frame[52:56, 10:46, 1].mean() < 45, n   # none beside it
    for n, scene in ((5, (220, 30, 30)), (21, (220, 30, 30)), (28, (30, 30, 220)), (40, (30, 30, 220))):
        patch = video[n][10:46, 10:46].mean(axis=(0, 1))       # half the logo, half the scene behind it
        assert np.abs(patch - (np.array(scene) + (0, 255, 0)) / 2).max() < 12, (n, patch)


def _job(tmp_path, job_id, **logo):
    scenes = [{"promptImage": f"scene {i}", "duration": 1.5, "motion": "none"} for i in range(3)]
    return parse_job({"id": job_id, "video": {"width": 160, "height": 284, "fps": 12, "quality": "draft",
                                              "transition": "crossfade", "transition_duration": 0.5},
                      "scenes": scenes, "overlays": [{"type": "logo", "image": "logo.png", **logo}]}, tmp_path)


def _misses(result) -> dict:
    kinds = json.loads(result.report_path.read_text())["cache_stats"]["by_kind"]
    return {kind: counts["misses"] for kind, counts in kinds.items()}


def test_a_changed_logo_at_the_same_path_remakes_the_pieces_that_show_it_and_nothing_else(tmp_path, make_settings):
    settings = make_settings(MEMORY_WARNING_THRESHOLD=10**7, MEMORY_CRITICAL_THRESHOLD=10**7)
    logo_file(tmp_path, colour=(255, 255, 255, 255))
    first = render_job(_job(tmp_path, "logo-a"), make_context(settings))
    assert _misses(first) == {"image": 3, "piece": 5, "soundtrack": 1, "soundtrack-segment": 3, "joined": 1,
                              "poster": 1}
    assert _misses(render_job(_job(tmp_path, "logo-b"), make_context(settings))) == \
        {"image": 0, "piece": 0, "soundtrack": 0, "joined": 0, "poster": 0}
    logo_file(tmp_path, colour=(0, 0, 0, 255))                        # the same path, another picture
    changed = render_job(_job(tmp_path, "logo-c"), make_context(settings))
    assert _misses(changed) == {"image": 0, "piece": 5, "soundtrack": 0, "joined": 1, "poster": 1}
    corner = frames(changed.output, 160, 284)[3, 7:15, 136:152].mean()   # 20x10 at (134, 6)
    assert corner < frames(first.output, 160, 284)[3, 7:15, 136:152].mean() - 150   # the new, black logo
    moved = render_job(_job(tmp_path, "logo-d", position="bottom_left"), make_context(settings))
    assert _misses(moved) == {"image": 0, "piece": 5, "soundtrack": 0, "joined": 1, "poster": 1}
