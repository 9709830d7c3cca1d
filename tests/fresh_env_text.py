"""Run by tests/test_fresh_install.py with the Python of a virtual environment made from
requirements.txt alone: titles and captions in many scripts, drawn with the fonts that
requirements.txt installs (the machine's own fonts are switched off). Prints JSON."""
from __future__ import annotations

import json
import sys

import numpy as np

from generators import glyphs

glyphs._CANDIDATES.value = []    # no fonts of the machine: shipped + packaged only

from generators.frames import SceneFrames            # noqa: E402
from generators.subtitles import Cue                 # noqa: E402
from generators.visual import SceneVisual, TextSpec  # noqa: E402
from generators.word_timing import Word, join_words, split_words  # noqa: E402
from generators.plugins import load_all             # noqa: E402
from job_parsing import parse_job                  # noqa: E402

load_all()

TEXTS = {
    "japanese": "日本語のテキスト",
    "chinese": "你好，世界",
    "korean": "안녕하세요 세계",
    "arabic": "مرحبا بالعالم",
    "hindi": "नमस्ते दुनिया",
    "emoji": "🎉 🌸 👋",
}
W, H, FPS = 360, 640, 10


def frame_rgb(visual: SceneVisual, i: int = 0) -> np.ndarray:
    import cv2
    frames = SceneFrames(visual)
    try:
        return cv2.cvtColor(frames.frame(i).copy(), cv2.COLOR_YUV2RGB_I420)
    finally:
        frames.close()


def main() -> None:
    from PIL import features
    out = {"raqm": features.check("raqm"), "fonts": {}, "title": {}, "caption": {}}
    # the glyph check passes for every text as titles and as captions of a job
    scenes = [{"duration": 1, "text": t, "narration_text": t, "subtitle": True} for t in TEXTS.values()]
    glyphs.check_job_text(parse_job({"scenes": scenes}, base_dir="."))
    import tempfile
    from pathlib import Path
    from PIL import Image
    picture = Path(tempfile.mkdtemp()) / "grey.png"
    Image.new("RGB", (64, 64), (90, 100, 110)).save(picture)
    base = SceneVisual(width=W, height=H, fps=FPS, frames=10, kind="image", motion="none", picture=picture)
    plain = frame_rgb(base)
    for name, text in TEXTS.items():
        out["fonts"][name] = sorted({path.rsplit("/", 1)[-1] for _, path in glyphs.font_runs(text)})
        titled = frame_rgb(SceneVisual(**{**base.__dict__, "title": TextSpec(text, "center", 48, "white")}))
        changed = np.abs(titled.astype(int) - plain.astype(int)).max(axis=2) > 40
        rows = np.nonzero(changed.any(axis=1))[0]
        out["title"][name] = {"ink": int(changed.sum()), "top": int(rows.min()) if len(rows) else -1,
                              "bottom": int(rows.max()) if len(rows) else -1}
        words = split_words(text)
        timed = tuple(Word(w, 0.1 * k, 0.1 * k + 0.1) for k, w in enumerate(words))
        cue = Cue(join_words(words), 0.0, 0.1 * len(words), timed)
        style = TextSpec("", "bottom", 36, "white", "black", True, style="karaoke", highlight_color="#00FF00")
        captioned = frame_rgb(SceneVisual(**{**base.__dict__, "cues": (cue,), "subtitle_style": style}), 0)
        changed = np.abs(captioned.astype(int) - plain.astype(int)).max(axis=2) > 40
        rows = np.nonzero(changed.any(axis=1))[0]
        green = (captioned[..., 1] > 170) & (captioned[..., 0] < 110) & (captioned[..., 2] < 110)
        out["caption"][name] = {"ink": int(changed.sum()), "top": int(rows.min()) if len(rows) else -1,
                                "bottom": int(rows.max()) if len(rows) else -1, "lit": int(green.sum())}
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
