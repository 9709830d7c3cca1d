"""Text of every script in titles and subtitles: drawn with a font that has the
characters, or refused naming the field; never on an ffmpeg command line."""
from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from generators import glyphs
from generators.glyphs import SHIPPED_FONT, check_job_text, font_for, missing_glyphs, require_font
from jobmodel.errors import JobInvalid
from job_parsing import parse_job

SCRIPTS = {
    "accents": "Ça été déjà vu — Øre, Straße, naïve, Ångström, façade",
    "greek": "Καλημέρα κόσμε",
    "cyrillic": "Привет, мир! Ёжик",
    "hebrew": "שלום עולם",
    "arabic": "مرحبا بالعالم",
    "punctuation": "\"double\" 'single' «guillemets» \\back\\slash C:\\temp 100% a:b {x} $(id) `id` ; | &",
    "newlines": "first line\nsecond line\r\nthird",
    "invisible": "bidi\u200fmark zero\u200dwidth variation\ufe0f soft\u00adhyphen private\ue000 cafe\u0301",
}


@pytest.fixture
def no_fallback(monkeypatch):
    """Only the shipped font: no packaged Noto fonts, no fonts of the machine."""
    monkeypatch.setattr(glyphs._CANDIDATES, "value", [])
    monkeypatch.setattr(glyphs._CHAIN, "value", [str(SHIPPED_FONT)])


@pytest.mark.parametrize("name", SCRIPTS)
def test_shipped_font_covers_scripts(name):
    assert missing_glyphs(SCRIPTS[name], SHIPPED_FONT) == set()
    assert font_for(SCRIPTS[name]) == SHIPPED_FONT


def test_cjk_refused_with_field_and_characters(no_fallback):
    assert missing_glyphs("漢字 ok", SHIPPED_FONT) == {"漢", "字"}
    assert font_for("漢字") is None
    with pytest.raises(JobInvalid) as info:
        require_font("Title 漢字 again 漢", "scenes[2].text.content")
    assert info.value.field == "scenes[2].text.content"
    assert str(info.value).startswith("scenes[2].text.content: characters 漢字 (U+6F22, U+5B57)")
    assert "in none of the worker's fonts" in str(info.value)


def _job(**scene):
    return parse_job({"video": {"width": 160, "height": 284, "fps": 12}, "scenes": [
        {"duration": 1}, {"duration": 1, **scene}]}, base_dir=Path(__file__).parent)


def test_check_job_text_names_the_field(no_fallback):
    with pytest.raises(JobInvalid, match=r"^scenes\[1\]\.text\.content: characters 漢字"):
        check_job_text(_job(text="漢字"))
    with pytest.raises(JobInvalid, match=r"^scenes\[1\]\.narration_text: characters 日本"):
        check_job_text(_job(narration_text="日本 text", subtitle=True))
    check_job_text(_job(narration_text="日本 text"))  # spoken only, never drawn
    job = parse_job({"narration_text": "hello 世界", "scenes": [{"subtitle": True}]}, base_dir=".")
    with pytest.raises(JobInvalid, match=r"^narration_text: characters 世界"):
        check_job_text(job)
    check_job_text(_job(text=SCRIPTS["arabic"] + " " + SCRIPTS["hebrew"]))


def _tiny_font(path: Path, chars: str) -> Path:
    """A real TrueType font whose glyphs (boxes) cover `chars` and ASCII."""
    from fontTools.fontBuilder import FontBuilder
    from fontTools.pens.ttGlyphPen import TTGlyphPen
    codes = sorted({ord(c) for c in chars} | set(range(0x20, 0x7F)))
    names = [".notdef"] + [f"uni{code:04X}" for code in codes]
    builder = FontBuilder(1000, isTTF=True)
    builder.setupGlyphOrder(names)
    builder.setupCharacterMap({code: f"uni{code:04X}" for code in codes})
    glyph_set = {}
    for name in names:
        pen = TTGlyphPen(None)
        if name != "uni0020":
            pen.moveTo((100, 0)); pen.lineTo((100, 700)); pen.lineTo((800, 700))
            pen.lineTo((800, 0)); pen.closePath()
        glyph_set[name] = pen.glyph()
    builder.setupGlyf(glyph_set)
    builder.setupHorizontalMetrics({name: (900, 100) for name in names})
    builder.setupHorizontalHeader(ascent=800, descent=-200)
    builder.setupNameTable({"familyName": "Tiny CJK", "styleName": "Regular"})
    builder.setupOS2()
    builder.setupPost()
    builder.save(str(path))
    return path


def test_fallback_font_used_when_installed(tmp_path, monkeypatch, make_settings):
    from protovideo.pipeline.runtime import Runtime
    font = _tiny_font(tmp_path / "tiny-cjk.ttf", "漢字日本")
    monkeypatch.setattr(glyphs._CANDIDATES, "value", None)
    monkeypatch.setattr(glyphs._CHAIN, "value", None)
    monkeypatch.setattr(glyphs, "package_fonts", lambda: [])   # the machine's fonts only
    monkeypatch.setattr(glyphs, "_extra_patterns", ())
    Runtime.create(make_settings(EXTRA_FONTS=str(font)))      # the setting reaches the font chain
    assert font_for("Title 漢字") == font.resolve()
    assert font_for("Ωμέγα") == SHIPPED_FONT           # the shipped font stays first
    assert font_for("漢字 Ωμέγα") is None               # no single font has both
    check_job_text(_job(text="漢字 ok"))
    from generators.text_render import render_text_block
    block = np.asarray(render_text_block("漢字", 24, "white", 140))
    assert block[..., 3].max() > 0


def _ink(text: str) -> np.ndarray:
    from generators.text_render import render_text_block
    return np.asarray(render_text_block(text, 24, "white", 150))


@pytest.mark.parametrize("name", ["accents", "greek", "cyrillic", "hebrew", "arabic", "punctuation"])
def test_every_character_drawn_not_a_missing_box(name, no_fallback):
    tofu = _ink("香")                                   # not in the shipped font: the .notdef box
    assert np.array_equal(tofu, _ink("漢"))             # (every missing character looks the same)
    for char in sorted(set(SCRIPTS[name]) - set(" \n")):
        drawn = _ink(char)
        assert drawn[..., 3].max() > 0, repr(char)
        assert drawn.shape != tofu.shape or not np.array_equal(drawn, tofu), repr(char)


def test_text_never_reaches_a_command_line(make_settings, monkeypatch, tmp_path):
    """Render a tiny job whose title and subtitles are hostile; spy on every process started."""
    from protovideo.pipeline.render import make_context, render_job
    title = "T1TLE $(touch pwned) `touch pwned2`; rm -rf / | cat %{pts} \\' \" : % \n שלום"
    narration = "N4RR Café: 100% sure; it's C:\\temp, $HOME isn't set."
    job = parse_job({"id": "hostile-text", "output_filename": "../../out; rm -rf ~.mp4",
                     "video": {"width": 160, "height": 284, "fps": 12, "transition": "cut"},
                     "scenes": [{"duration": 1, "text": {"content": title, "fontsize": 14},
                                 "motion": "none"},
                                {"narration_text": narration, "subtitle": True, "motion": "none"}]},
                    base_dir=tmp_path)
    settings = make_settings()
    started = []
    real_init = subprocess.Popen.__init__

    def spy(self, args, *a, **kw):
        started.append((args, kw.get("shell", False)))
        return real_init(self, args, *a, **kw)
    monkeypatch.setattr(subprocess.Popen, "__init__", spy)
    check_job_text(job)
    result = render_job(job, make_context(settings))
    ffmpeg_runs = [args for args, _ in started if "ffmpeg" in Path(str(args[0])).name]
    assert result.output == settings.path("OUTPUT_DIR") / "out_rm_-rf.mp4"
    assert result.output.is_file() and result.duration_s > 1
    assert ffmpeg_runs, f"the render started no ffmpeg at all? {started}"
    for args, shell in started:
        assert not shell and isinstance(args, (list, tuple)), args
        joined = "\x00".join(map(str, args))
        for marker in ("T1TLE", "N4RR", "pwned", "rm -rf", "%{pts}"):
            assert marker not in joined, (marker, args)
    assert not list(tmp_path.rglob("pwned*")) and not list(Path.cwd().glob("pwned*"))
