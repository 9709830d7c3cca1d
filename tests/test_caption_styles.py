"""Caption styles seen in the rendered frames: karaoke lights the word being said, `word` shows
one or two words at a time, every style keeps out of the 9:16 players' button area."""
from __future__ import annotations

import numpy as np
import pytest

from media import frames
from job_parsing import parse_job
from protovideo.pipeline.render import make_context, render_job
from test_captions_timing import vtt_words

W, H, FPS = 270, 480, 12
GREEN = "#00FF00"


def _render(make_settings, tmp_path, style: str, **extra):
    data = {"id": f"style-{style}", "video": {"width": W, "height": H, "fps": FPS, "transition": "cut"},
            "subtitles": {"style": style, "highlight_color": GREEN, "words_per_line": 3, "color": "white",
                          **extra},
            "scenes": [{"narration_text": "Red, yellow, green. Blue, purple, orange.", "subtitle": True,
                        "motion": "none", "promptImage": "dark night"}]}
    result = render_job(parse_job(data, tmp_path), make_context(make_settings()))
    return result, frames(result.output, W, H), vtt_words(result.output.with_suffix(".vtt"))


def _green(frame: np.ndarray) -> np.ndarray:
    f = frame.astype(int)
    return (f[..., 1] > 170) & (f[..., 0] < 110) & (f[..., 2] < 110)


def _white(frame: np.ndarray) -> np.ndarray:
    return (frame.astype(int) > 200).all(axis=2)


@pytest.fixture(scope="module")
def karaoke(tmp_path_factory):
    from protovideo.runtime.settings import load_settings
    tmp = tmp_path_factory.mktemp("karaoke")
    settings = lambda: load_settings({"CACHE_DIR": str(tmp / "c"), "OUTPUT_DIR": str(tmp / "o"),  # noqa: E731
                                      "REPORT_DIR": str(tmp / "r"), "WORK_DIR": str(tmp / "w"), "LOG_FILE": ""},
                                     cwd=tmp, read_files=False)
    return _render(settings, tmp, "karaoke")


def test_karaoke_lights_the_spoken_word_and_no_other(karaoke):
    _, video, words = karaoke
    boxes = []
    for word, start in words:
        mid = start + 0.12   # each word lasts longer than that
        frame = video[int(round(mid * FPS))]
        lit = _green(frame)
        assert lit.sum() > 30, f"{word!r} is not lit at {mid:.2f} s"
        assert _white(frame).sum() > 30, "the other words of the line stay in the text colour"
        ys, xs = np.nonzero(lit)
        boxes.append((word, xs.min(), xs.max(), ys.min(), ys.max()))
    # within each line, the lit word moves left to right, one word's box at a time
    for (wa, a0, a1, ya, _), (wb, b0, b1, yb, _) in zip(boxes, boxes[1:]):
        if abs(ya - yb) < 5 and not wa.endswith("."):
            assert a1 < b0, f"{wa!r} and {wb!r} lit together or out of order"
    # before the first word is said nothing is lit
    first = words[0][1]
    assert _green(video[max(0, int(first * FPS) - 2)]).sum() == 0


def test_captions_stay_inside_the_safe_area(karaoke):
    _, video, words = karaoke
    ink = np.zeros((H, W), dtype=bool)
    for _, t in words:
        frame = video[int(round((t + 0.05) * FPS))]
        ink |= _green(frame) | _white(frame)
    ys, xs = np.nonzero(ink)
    # 9:16: out of the bottom 35% and the right 17.8% (generators/safe_area.py, the platforms' zones)
    assert ys.max() <= H * 0.65 and xs.max() < W * (1 - 0.178), (ys.max() / H, xs.max() / W)


def test_word_style_shows_one_or_two_words_popping_in(make_settings, tmp_path):
    _, video, words = _render(make_settings, tmp_path, "word", uppercase=True)
    widths, seen = [], set()
    for word, t in words:
        frame = video[int(round((t + 0.25) * FPS))]
        ys, xs = np.nonzero(_white(frame[: int(H * 0.86)]))
        assert len(xs), f"nothing shown for {word!r}"
        widths.append(xs.max() - xs.min())
        seen.add(frame[int(H * 0.6):int(H * 0.86)].tobytes())
    assert max(widths) < W * 0.6          # a word or two, never the whole line
    assert len(seen) >= len(words) // 2 + 1   # the caption changes as the words are said
    # popping in: the first frame of a group is smaller than the same group a moment later
    t = words[0][1]
    early = _white(video[int(np.ceil(t * FPS))]).sum()
    later = _white(video[int(np.ceil(t * FPS)) + 3]).sum()
    assert early < later
