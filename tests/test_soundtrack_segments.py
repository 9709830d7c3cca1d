"""The soundtrack as per-scene AAC segments: a changed scene re-encodes its own segment only, and
the joined sound runs on through the joins (a tone decoded by the system's ffmpeg, fitted and
compared window by window: no gap, no click)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from job_parsing import parse_job
from meters import decoded, loudness_of, write_wav
from protovideo.pipeline.render import make_context, render_job

SMALL = {"width": 180, "height": 320, "fps": 10}
TEXTS = ["Rivers run to the sea.", "Mountains hold the snow all year.", "The end is near."]


def render(data: dict, folder: Path, settings):
    return render_job(parse_job(data, folder), make_context(settings))


def narrated(texts: list[str], name: str, **top) -> dict:
    return {"id": name, "video": SMALL, **top, "scenes": [{"narration_text": t, "duration": 3.0} for t in texts]}


CHANGED = [TEXTS[0], "Hills keep the rain for the spring.", TEXTS[2]]


def test_one_changed_scene_encodes_one_segment(make_settings, tmp_path):
    """Loudness off: the level is the mix's own, so the other scenes' segments are the same sound."""
    settings = make_settings()
    first = render(narrated(TEXTS, "first", audio={"loudness": "off"}), tmp_path, settings)
    assert first.report["soundtrack"] == {"segments": 3, "passes": 1, "encoded": 3, "from_cache": 0,
                                             "gain_kept": 0}
    changed = render(narrated(CHANGED, "changed", audio={"loudness": "off"}), tmp_path, settings)
    assert changed.report["soundtrack"] == {"segments": 3, "passes": 1, "encoded": 1, "from_cache": 2,
                                               "gain_kept": 0}
    # the unchanged scenes sound as they did: scenes 0 and 2 decoded from both files agree (not to
    # the bit: the AAC decoder's noise substitution draws from a generator that runs on over frames)
    a, b = decoded(first.output), decoded(changed.output)
    assert len(a) == len(b)
    for lo, hi in ((0.1, 2.9), (6.1, 8.9)):
        x, y = a[int(lo * 48000):int(hi * 48000)], b[int(lo * 48000):int(hi * 48000)]
        assert np.abs(x).max() > 0.01 and np.abs(x - y).max() < 0.01, (lo, hi, np.abs(x - y).max())
    assert np.abs(a[int(3.1 * 48000):int(5.9 * 48000)] - b[int(3.1 * 48000):int(5.9 * 48000)]).max() > 0.01


def test_normalized_soundtrack_keeps_the_unchanged_segments(make_settings, tmp_path):
    """At the loudness target the gain is the whole mix's: the changed scene moves it a little, and
    the two unchanged segments, made at a gain within 1 dB of the new one, are kept; the whole
    is still at the target (measured by a second meter)."""
    settings = make_settings()
    first = render(narrated(TEXTS, "first"), tmp_path, settings)
    assert first.report["soundtrack"]["encoded"] == 3 and first.report["soundtrack"]["passes"] == 1
    changed = render(narrated(CHANGED, "changed"), tmp_path, settings)
    again = changed.report["soundtrack"]
    assert again["passes"] == 1 and again["encoded"] == 1 and again["from_cache"] == 2, again
    gains = first.report["loudness"]["gain_db"], changed.report["loudness"]["gain_db"]
    assert again["gain_kept"] == (0 if gains[0] == gains[1] else 2), (gains, again)
    for result in (first, changed):
        lufs, peak = loudness_of(result.output)
        assert abs(lufs + 14.0) <= 0.5 and peak <= -1.5, (lufs, peak)


def test_joins_have_no_gap_or_click(make_settings, tmp_path):
    t = np.arange(6 * 48000) / 48000
    tone = 0.25 * np.sin(2 * np.pi * 440 * t) + 0.1 * np.sin(2 * np.pi * 97 * t)
    write_wav(tmp_path / "tone.wav", np.stack([tone, tone], axis=1))
    data = {"id": "tone", "video": SMALL, "music": "tone.wav", "music_volume": 1.0,
            "scenes": [{"duration": 1.5, "motion": "none"} for _ in range(3)]}
    result = render(data, tmp_path, make_settings())
    assert result.report["soundtrack"]["segments"] == 3
    sound = decoded(result.output)[:, 0]
    # the music is at full level between its 1 s fades: 1.1-3.4 s, with joins at 1.5 and 3.0 s
    lo, hi = int(1.1 * 48000), int(3.4 * 48000)
    part, at = sound[lo:hi], t[lo:hi]
    basis = np.stack([f(2 * np.pi * hz * at) for hz in (440, 97) for f in (np.sin, np.cos)], axis=1)
    fit, *_ = np.linalg.lstsq(basis, part, rcond=None)
    residual = part - basis @ fit
    level = np.sqrt(np.mean((basis @ fit) ** 2))
    window = 240   # 5 ms
    n = len(part) // window
    res_rms = np.sqrt(np.mean(residual[:n * window].reshape(n, window) ** 2, axis=1))
    sig_rms = np.sqrt(np.mean(part[:n * window].reshape(n, window) ** 2, axis=1))
    db = 20 * np.log10(res_rms / level)
    joins = [int((s - 1.1) * 48000) // window for s in (1.5, 3.0)]
    near = np.zeros(len(db), dtype=bool)
    for j in joins:
        near[j - 8:j + 9] = True     # 40 ms each side of the join
    at_joins, elsewhere = float(db[near].max()), float(np.percentile(db[~near], 99))
    print(f"5 ms windows off the fitted tone: at the joins {at_joins:.1f} dB, elsewhere 99th "
          f"percentile {elsewhere:.1f} dB, median {np.median(db):.1f} dB")
    assert level > 0.05, "the tone is heard"
    assert sig_rms.min() > 0.5 * level, "a quiet window: a gap in the sound"
    # a gap or a click is a window near 0 dB off the tone; the joins are as close as the rest
    # (the AAC encoder's own error differs from one start to another: -61 or -37 dB here)
    assert db.max() < -25, f"a window {db.max():.1f} dB off the tone"
    assert at_joins <= elsewhere + 3.0, (at_joins, elsewhere)
