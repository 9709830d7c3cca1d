"""Where titles and captions land on a rendered frame, measured from its pixels.

The safe areas are worked out here from the platforms' published margins, not read from the
code: on 9:16 the intersection of Google's vertical YouTube safe zone for 1080x1920 (288 px top,
672 px bottom, 48 px left, 192 px right; Google Ads "About video ad specs", as measured in
Shotstack's "Vertical video safe zones") and Meta's Reels safe zone (14% top, 35% bottom, 6% each
side); on 16:9 the graphics-safe area of ITU-R BT.1848-1 / EBU R 95 (5% in from every edge)."""
from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont, features

from generators.frames import SceneFrames
from generators.subtitles import Cue
from generators.visual import SceneVisual, TextSpec
from generators.word_timing import Word, join_words, split_words


def published_safe_area(width: int, height: int) -> tuple[float, float, float, float]:
    if height > width:   # 9:16: the larger of Google's and Meta's margin on every side
        left = max(48 / 1080, 0.06) * width
        right = width - max(192 / 1080, 0.06) * width
        top = max(288 / 1920, 0.14) * height
        bottom = height - max(672 / 1920, 0.35) * height
        return left, top, right, bottom
    return 0.05 * width, 0.05 * height, 0.95 * width, 0.95 * height


@pytest.fixture(scope="module")
def picture(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("layout") / "grey.png"
    Image.new("RGB", (64, 64), (90, 100, 110)).save(path)
    return path


def cue(text: str) -> Cue:
    words = split_words(text)
    return Cue(join_words(words), 0.0, 1.0, tuple(Word(w, 0.1 * k, 0.1 * k + 0.1) for k, w in enumerate(words)))


def visual(picture, width, height, title=None, title_at="bottom", caption=None, caption_at="bottom",
           style="phrase", title_px=None) -> SceneVisual:
    scale = min(width, height) / 1080
    return SceneVisual(
        width=width, height=height, fps=10, frames=10, kind="image", motion="none", picture=picture,
        title=TextSpec(title, title_at, title_px or int(96 * scale), "white") if title else None,
        cues=(cue(caption),) if caption else (),
        subtitle_style=TextSpec("", caption_at, int(65 * scale), "white", "black", True, style=style)
        if caption else None)


def rgb(v: SceneVisual) -> np.ndarray:
    frames = SceneFrames(v)
    try:
        return cv2.cvtColor(frames.frame(0).copy(), cv2.COLOR_YUV2RGB_I420).astype(int)
    finally:
        frames.close()


def ink_box(v: SceneVisual, plain: SceneVisual) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) of the pixels the layers changed (inclusive)."""
    changed = np.abs(rgb(v) - rgb(plain)).max(axis=2) > 40
    ys, xs = np.nonzero(changed)
    assert len(xs) > 200, "nothing drawn"
    return int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())


SIZES = {"16:9": (960, 540), "9:16": (540, 960)}


@pytest.mark.parametrize("aspect", SIZES)
@pytest.mark.parametrize("style", ["phrase", "karaoke", "word"])
def test_captions_are_centred_in_the_safe_area_of_the_aspect(picture, aspect, style):
    w, h = SIZES[aspect]
    plain = visual(picture, w, h)
    left, top, right, bottom = published_safe_area(w, h)
    for text in ("Short", "a caption long enough to wrap onto a second line here"):
        x0, y0, x1, y1 = ink_box(visual(picture, w, h, caption=text, style=style), plain)
        assert left <= x0 and x1 < right and top <= y0 and y1 < bottom, ((x0, y0, x1, y1), (left, top, right, bottom))
        assert abs((x0 + x1 + 1) / 2 - (left + right) / 2) <= 3, "not centred in the safe area"
        # bottom captions sit on the safe area's bottom edge (their box does; boxless words nearly)
        assert bottom - y1 <= (4 if style != "word" else 0.05 * h), (bottom, y1)


def test_in_16_9_captions_and_titles_share_the_centre_line(picture):
    w, h = SIZES["16:9"]
    plain = visual(picture, w, h)
    caption = ink_box(visual(picture, w, h, caption="centred like the title"), plain)
    title = ink_box(visual(picture, w, h, title="A title", title_at="top"), plain)
    assert abs((caption[0] + caption[2]) - (title[0] + title[2])) / 2 <= 3
    assert abs((caption[0] + caption[2]) / 2 - w / 2) <= 3


def disjoint(a, b) -> bool:
    return a[2] < b[0] or b[2] < a[0] or a[3] < b[1] or b[3] < a[1]


def title_box(v: SceneVisual) -> tuple[int, int, int, int]:
    """The title's pixels in a frame with captions too: the frame with both layers against the
    frame with the captions alone (a title drawn over a caption shows there as well)."""
    changed = np.abs(rgb(v) - rgb(replace(v, title=None))).max(axis=2) > 40
    ys, xs = np.nonzero(changed)
    assert len(xs) > 200, "no title drawn"
    return int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())


CAPTION = "these are the words being said, long enough for two lines"


@pytest.mark.parametrize("aspect", SIZES)
@pytest.mark.parametrize("title_at,caption_at", [("bottom", "bottom"), ("top", "top"), ("center", "bottom"),
                                                 ("center", "center"), ("bottom", "center")])
@pytest.mark.parametrize("title", ["Sunrise", "A rather long title that wraps over several lines of the frame"])
def test_title_and_captions_never_overlap(picture, aspect, title_at, caption_at, title):
    w, h = SIZES[aspect]
    both = visual(picture, w, h, title=title, title_at=title_at, caption=CAPTION, caption_at=caption_at)
    captions = ink_box(replace(both, title=None), visual(picture, w, h))
    drawn = title_box(both)
    assert disjoint(drawn, captions), (drawn, captions)
    left, top, right, bottom = published_safe_area(w, h)
    assert left <= drawn[0] and drawn[2] < right and top <= drawn[1] and drawn[3] < bottom
    if title_at == caption_at == "bottom":
        assert drawn[3] < captions[1], "the bottom title moves up above the bottom captions"
    if title_at == caption_at == "top":
        assert drawn[1] > captions[3], "the top title moves down below the top captions"


def test_a_title_made_smaller_to_fit_is_noted_in_the_report(make_settings, tmp_path, picture):
    from job_parsing import parse_job
    from protovideo.pipeline.render import make_context, render_job
    long_title = " ".join(["Extraordinarily"] * 3 + ["long title words"] * 12)
    job = parse_job({"id": "shrink", "video": {"width": 270, "height": 480, "fps": 12},
                     "scenes": [{"duration": 1, "text": {"content": "Fits", "fontsize": 80}},
                                {"duration": 1, "text": {"content": long_title, "fontsize": 200}}]}, tmp_path)
    result = render_job(job, make_context(make_settings()))
    notes = json.loads(result.report_path.read_text())["notes"]
    assert len(notes) == 1 and notes[0].startswith("scenes[1].text: the title is drawn at "), notes
    asked = int(200 * 270 / 1080)
    drawn = int(notes[0].split("drawn at ")[1].split(" px")[0])
    assert drawn < asked and f"instead of {asked} px" in notes[0]
    # and it fits: drawn on a flat picture at the size asked, its ink stays inside the safe area
    v = SceneVisual(width=270, height=480, fps=12, frames=12, kind="image", motion="none",
                    picture=picture, title=TextSpec(long_title, "center", asked, "white"))
    x0, y0, x1, y1 = ink_box(v, replace(v, title=None))
    left, top, right, bottom = published_safe_area(270, 480)
    assert left <= x0 and x1 < right and top <= y0 and y1 < bottom, ((x0, y0, x1, y1), (left, top, right, bottom))


FIRST, SECOND = "שלום สวัสดี Γειά σου", "Привет שלום мир"
MIXED = f"{FIRST} {SECOND}"   # Hebrew, Thai, Greek, Russian: a paragraph that starts in Hebrew


@pytest.mark.skipif(not features.check("raqm") and not os.environ.get("CI"),   # CI has libfribidi0
                    reason="the reference is FriBiDi through Pillow's Raqm")
def test_a_wrapped_line_keeps_its_paragraphs_direction():
    """The paragraph starts in Hebrew, so it is right to left (UAX #9 P2-P3), and so is its second
    line `Привет שלום мир`, which starts with a Russian word: read right to left, Привет comes
    first (at the right), then שלום, then мир at the left. The reference is FriBiDi itself: the
    line drawn in one call with a right-to-left paragraph direction."""
    from generators import text_layout
    from generators.glyphs import SHIPPED_FONT
    from generators.text_render import paragraph_lines, render_text_block
    size = 40
    second = SECOND
    room = int(max(text_layout.width(FIRST, size, True), text_layout.width(second, size, True))) + 4
    assert text_layout.width(f"{FIRST} Привет", size, True) > room   # so the paragraph wraps there
    lines = paragraph_lines(MIXED, size, room)
    assert [text for text, _ in lines] == [FIRST, second] and all(rtl for _, rtl in lines)
    block = np.asarray(render_text_block(MIXED, size, "white", room + 2 * (2 * max(1, size // 14))))[..., 3] > 128
    half = block.shape[0] // 2
    ours = crop(block[half:])
    face = ImageFont.truetype(str(SHIPPED_FONT), size, layout_engine=ImageFont.Layout.RAQM)
    reference = Image.new("L", (room * 2, size * 3), 0)
    ImageDraw.Draw(reference).text((10, size * 2), second, font=face, fill=255, anchor="ls",
                                   direction="rtl", stroke_width=max(1, size // 14), stroke_fill=255)
    ref = crop(np.asarray(reference) > 128)
    wrong = Image.new("L", (room * 2, size * 3), 0)
    ImageDraw.Draw(wrong).text((10, size * 2), second, font=face, fill=255, anchor="ls",
                               direction="ltr", stroke_width=max(1, size // 14), stroke_fill=255)
    assert mismatch(ours, ref) < 0.1
    assert mismatch(ours, crop(np.asarray(wrong) > 128)) > 0.3   # a left-to-right line looks otherwise


def crop(mask: np.ndarray) -> np.ndarray:
    ys, xs = np.nonzero(mask)
    return mask[ys.min():ys.max() + 1, xs.min():xs.max() + 1]


def mismatch(a: np.ndarray, b: np.ndarray) -> float:
    h, w = min(a.shape[0], b.shape[0]), min(a.shape[1], b.shape[1])
    a, b = a[:h, :w], b[:h, :w]
    return float((a ^ b).sum()) / max(1, int((a | b).sum()))
