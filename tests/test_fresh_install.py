"""Every script on a fresh machine: a virtual environment made from requirements.txt alone
(no system site-packages, the machine's fonts switched off) draws titles and captions in
Japanese, Chinese, Korean, Arabic, Hindi and emoji with ink where the text should be.

Slow the first time (pip installs requirements.txt into a cached venv under
~/.cache/protovideo, or PROTOVIDEO_FRESH_VENV; one per content of requirements.txt);
skipped, saying so, only when pip cannot reach the package registry."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# pip could not connect at all (it says so in its retry warnings). "No matching distribution"
# alone is not one: a pin that does not exist says that too, and must fail, not skip.
NETWORK_ERRORS = ("NewConnectionError", "Temporary failure in name resolution", "Network is unreachable",
                  "ConnectTimeout", "ProxyError")


def fresh_venv() -> Path:
    digest = hashlib.sha256((ROOT / "requirements.txt").read_bytes()).hexdigest()[:12]
    venv = Path(os.environ.get("PROTOVIDEO_FRESH_VENV") or
                Path.home() / ".cache" / "protovideo" / f"venv-{digest}")
    done = venv / ".requirements-installed"
    if done.is_file() and done.read_text() == digest:
        return venv
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    pip = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q",
                          "--disable-pip-version-check", "-r", str(ROOT / "requirements.txt")],
                         capture_output=True, text=True, timeout=1800)
    if pip.returncode != 0:
        if any(marker in pip.stderr for marker in NETWORK_ERRORS):
            pytest.skip("pip could not reach the package registry to build a fresh environment: "
                        + pip.stderr.strip().splitlines()[-1])
        pytest.fail(f"pip install -r requirements.txt failed:\n{pip.stderr[-3000:]}")
    done.write_text(digest)
    if not os.environ.get("PROTOVIDEO_FRESH_VENV"):   # environments of older requirements go
        for old in venv.parent.glob("venv-*"):
            if old != venv:
                shutil.rmtree(old, ignore_errors=True)
    return venv


@pytest.fixture(scope="module")
def drawn(tmp_path_factory):
    venv = fresh_venv()
    env = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp"),
           "PYTHONPATH": str(ROOT), "PYTHONNOUSERSITE": "1"}
    result = subprocess.run([str(venv / "bin" / "python"), str(ROOT / "tests" / "fresh_env_text.py")],
                            cwd=tmp_path_factory.mktemp("fresh"), env=env, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)


LANGUAGES = ["japanese", "chinese", "korean", "arabic", "hindi", "emoji"]
H = 640


@pytest.mark.parametrize("name", LANGUAGES)
def test_title_has_ink_where_the_title_is(drawn, name):
    title = drawn["title"][name]
    assert title["ink"] > 1500, title                 # drawn, not a few stray pixels
    # a centred title: about the middle of the 9:16 safe area (rows 15% to 65%)
    assert H * 0.15 <= title["top"] and title["bottom"] <= H * 0.65, title
    assert abs((title["top"] + title["bottom"]) / 2 - H * 0.4) < H * 0.05, title


@pytest.mark.parametrize("name", LANGUAGES)
def test_caption_has_ink_in_the_caption_area_and_its_first_word_lit(drawn, name):
    caption = drawn["caption"][name]
    assert caption["ink"] > 3000, caption
    # bottom of the 9:16 safe area: above the bottom 35% the platforms' text and buttons cover
    assert caption["top"] > H * 0.3 and caption["bottom"] <= H * 0.65, caption
    assert caption["lit"] > 50, caption               # karaoke: the first word in the highlight colour


def test_scripts_are_drawn_with_the_packaged_fonts(drawn):
    fonts = drawn["fonts"]
    for name in ("japanese", "chinese", "korean"):
        assert fonts[name] == ["NotoSansCJKjp-Bold.otf"]
    assert fonts["hindi"] == ["NotoSansDevanagari[wght].ttf"]
    assert "NotoEmoji[wght].ttf" in fonts["emoji"]
    assert drawn["raqm"], "Pillow's complex text layout (shaping, right to left) is available"
