"""Which fonts can draw a piece of text: titles and subtitles of any script.

Fonts are tried in a chain, one per run of characters (`font_runs`): the shipped
font (DejaVu Sans Bold: Latin, Greek, Cyrillic, Arabic, Hebrew basics), then the
open-licensed Noto fonts that requirements.txt installs from PyPI (manimgx-fonts:
Noto Sans for Arabic, Hebrew, Devanagari, Thai and other scripts, Noto Emoji, Noto
Sans Symbols; noto-cjk-sans-jp-bold: Noto Sans CJK Bold for Chinese, Japanese and
Korean), then fonts installed on the machine (the EXTRA_FONTS setting's files first,
handed over by the runtime through use_extra_fonts; then fc-list or the usual folders). When no
font has a character, `require_font` refuses the text with a reason that names the
field and the characters.

Coverage is read from each font's cmap with fontTools; characters that are
never drawn (spaces, line breaks, joiners, variation selectors, bidi marks)
are not asked for.
"""
from __future__ import annotations

import functools
import glob
import os
import shutil
import subprocess
import threading
import unicodedata
from pathlib import Path

from jobmodel.errors import JobInvalid

SHIPPED_FONT = Path(__file__).resolve().parent / "fonts" / "DejaVuSans-Bold.ttf"

# Preferred fallbacks first (broad CJK coverage, then emoji/symbol outlines).
FALLBACK_PATTERNS = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-*.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-*.ttc",
    "/usr/share/fonts/google-noto-cjk/NotoSansCJK-*.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
    "/usr/share/fonts/truetype/noto/NotoSans*-Bold.ttf",
    "/usr/share/fonts/truetype/noto/NotoSans*-Regular.ttf",
    "/usr/share/fonts/truetype/noto/NotoEmoji-*.ttf",
    "/usr/share/fonts/truetype/ancient-scripts/Symbola*.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/System/Library/Fonts/PingFang.ttc",
    "/Library/Fonts/Arial Unicode.ttf",
)
FONT_SUFFIXES = (".ttf", ".otf", ".ttc")
# Color bitmap fonts (CBDT/sbix) draw only at fixed sizes in PIL; not used.
_SKIP_NAMES = ("NotoColorEmoji",)


def _never_drawn(char: str) -> bool:
    code = ord(char)
    if char.isspace():
        return True
    if 0xFE00 <= code <= 0xFE0F or 0xE0100 <= code <= 0xE01EF:  # variation selectors
        return True
    # control, format, private-use, unassigned: dropped by the text renderer (clean_text)
    return unicodedata.category(char)[0] == "C" or unicodedata.category(char) in ("Zl", "Zp")


@functools.lru_cache(maxsize=64)
def _cmap(font_path: str) -> frozenset[int]:
    from fontTools.ttLib import TTFont
    kwargs = {"fontNumber": 0} if font_path.lower().endswith(".ttc") else {}
    with TTFont(font_path, lazy=True, **kwargs) as font:
        table = font.getBestCmap() or {}
        return frozenset(table)


def missing_glyphs(text: str, font_path: Path | str) -> set[str]:
    """The characters of `text` the font at `font_path` has no glyph for."""
    codes = _cmap(str(font_path))
    drawn = unicodedata.normalize("NFC", text)  # as the renderer draws it
    return {ch for ch in set(drawn) if not _never_drawn(ch) and ord(ch) not in codes}


class _Once:
    """A list of font paths worked out on first use (once, thread-safe); each caller gets
    a copy. Setting `value` beforehand (tests) replaces the search."""

    def __init__(self, compute):
        self._compute = compute
        self._lock = threading.Lock()
        self.value: list[str] | None = None

    def get(self) -> list[str]:
        with self._lock:
            if self.value is None:
                self.value = self._compute()
            return list(self.value)


def fallback_fonts() -> list[str]:
    """Installed fonts to try after the shipped one, preferred first."""
    return _CANDIDATES.get()


_extra_patterns: tuple[str, ...] = ()   # EXTRA_FONTS, from the runtime (use_extra_fonts)


def use_extra_fonts(patterns: str) -> None:
    """Try these font files (glob patterns separated by os.pathsep; the EXTRA_FONTS setting)
    before the machine's others. The font lists are worked out again if they changed."""
    global _extra_patterns
    wanted = tuple(p for p in (patterns or "").split(os.pathsep) if p)
    if wanted != _extra_patterns:
        _extra_patterns = wanted
        _CANDIDATES.value = None
        _CHAIN.value = None


def _find_fonts() -> list[str]:
    found: list[str] = []
    for pattern in list(_extra_patterns) + list(FALLBACK_PATTERNS):
        found.extend(sorted(glob.glob(pattern)))
    found.extend(_fc_list())
    seen: set[str] = set()
    usable = []
    for path in found:
        real = os.path.realpath(path)
        if real in seen or not real.lower().endswith(FONT_SUFFIXES):
            continue
        if any(name in os.path.basename(real) for name in _SKIP_NAMES):
            continue
        seen.add(real)
        usable.append(real)
    return usable


def _fc_list() -> list[str]:
    binary = shutil.which("fc-list")
    if not binary:
        return []
    try:
        result = subprocess.run([binary, "--format", "%{file}\n"], capture_output=True,
                                timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return []
    lines = result.stdout.decode("utf-8", "replace").splitlines()
    return sorted(line.strip() for line in lines if line.strip())


# Noto faces of manimgx-fonts, in the order they are tried (the rest of its folder follows)
_PACKAGE_ORDER = ("NotoSans[wght].ttf", "NotoSansArabic[wght].ttf", "NotoSansHebrew[wght].ttf",
                  "NotoSansDevanagari[wght].ttf", "NotoSansThai[wght].ttf")
_PACKAGE_LAST = ("NotoSansSymbols[wght].ttf", "NotoEmoji[wght].ttf")


def package_fonts() -> list[str]:
    """Fonts shipped by Python packages of requirements.txt, in the order they are tried."""
    found: list[str] = []
    try:
        import manimgx_fonts
        folder = Path(manimgx_fonts.__file__).resolve().parent
        names = sorted(p.name for p in folder.iterdir() if p.suffix == ".ttf" and "Italic" not in p.name)
        middle = [n for n in names if n not in _PACKAGE_ORDER and n not in _PACKAGE_LAST]
        found += [str(folder / n) for n in (*_PACKAGE_ORDER, *middle) if n in names]
        last = [str(folder / n) for n in _PACKAGE_LAST if n in names]
    except ImportError:
        last = []
    try:
        import noto_cjk_sans_jp_bold
        found.append(str(noto_cjk_sans_jp_bold.FONT_PATH))
    except ImportError:
        pass
    return found + last


def _chain() -> list[str]:
    chain = [str(SHIPPED_FONT)] + package_fonts()
    seen = {os.path.realpath(p) for p in chain}
    return chain + [p for p in fallback_fonts() if os.path.realpath(p) not in seen]


_CANDIDATES = _Once(_find_fonts)   # the machine's fonts (fc-list, font folders)
_CHAIN = _Once(_chain)


def font_chain() -> list[str]:
    """Every font to try, first choice first: shipped, packaged, installed."""
    return _CHAIN.get()


def _covers(path: str, char: str) -> bool:
    try:
        return ord(char) in _cmap(path)
    except Exception:  # noqa: BLE001 - an unreadable font file is skipped
        return False


def font_for_char(char: str) -> str | None:
    """The first font of the chain that has `char`, or None."""
    return _first_font(char, tuple(font_chain()))


@functools.lru_cache(maxsize=8192)
def _first_font(char: str, chain: tuple[str, ...]) -> str | None:
    for path in chain:
        if _covers(path, char):
            return path
    return None


def font_runs(text: str) -> list[tuple[str, str]]:
    """`text` cut into (run, font path) pieces: a character stays in the current run while
    the run's font has it (spaces and digits do not break an Arabic or CJK run), else the
    first font of the chain that has it starts a new run."""
    runs: list[tuple[str, str]] = []
    current, font = "", str(SHIPPED_FONT)
    for ch in text:
        # spaces stay in the run (an Arabic phrase is one run), except after emoji: the
        # emoji face's space is as wide as an emoji
        if (_never_drawn(ch) and not (ch.isspace() and "Emoji" in font)) or _covers(font, ch) \
                and not (ch.isspace() and "Emoji" in font):
            current += ch
            continue
        if ch.isspace():
            if current:
                runs.append((current, font))
            current, font = ch, str(SHIPPED_FONT)
            continue
        found = font_for_char(ch) or str(SHIPPED_FONT)
        if current:
            runs.append((current, font))
        current, font = ch, found
    if current:
        runs.append((current, font))
    return runs


def uncovered(text: str) -> str:
    """The characters of `text` (in order, once each) that no font of the chain has."""
    drawn = unicodedata.normalize("NFC", text)
    return "".join(dict.fromkeys(ch for ch in drawn if not _never_drawn(ch) and font_for_char(ch) is None))


def font_for(text: str) -> Path | None:
    """A font file that can draw every character of `text`: the shipped font when
    it can, else an installed fallback; None when no font has them all."""
    if not missing_glyphs(text, SHIPPED_FONT):
        return SHIPPED_FONT
    for path in fallback_fonts():
        try:
            if not missing_glyphs(text, path):
                return Path(path)
        except Exception:  # an unreadable font file on the system is skipped
            continue
    return None


def require_font(text: str, field: str) -> None:
    """Nothing when every character of `text` is in some font of the chain; else JobInvalid
    naming the field and the characters no font has."""
    missing = uncovered(text)
    if not missing:
        return
    shown = missing if len(missing) <= 20 else missing[:20] + "..."
    codes = ", ".join(f"U+{ord(ch):04X}" for ch in missing[:5])
    raise JobInvalid(field, f"characters {shown} ({codes}) are in none of the worker's fonts "
                     f"({SHIPPED_FONT.name}, the Noto fonts of requirements.txt, the machine's "
                     "fonts); install a font that has them or remove them")


def drawn_texts(job) -> list[tuple[str, str]]:
    """(text, JSON path) of every text of the job that is drawn: each title
    (`scenes[i].text.content`) and the narration shown as captions (`scenes[i].narration_text`,
    or the job's `narration_text`)."""
    found = []
    if any(scene.subtitle for scene in job.scenes) and job.narration_text.strip():
        found.append((job.narration_text, "narration_text"))
    for scene in job.scenes:
        if scene.text is not None:
            found.append((scene.text.content, f"{scene.path}.text.content"))
        if scene.subtitle and scene.narration_text.strip() and not job.narration_text.strip():
            found.append((scene.narration_text, f"{scene.path}.narration_text"))
    return found


def check_job_text(job) -> None:
    """Refuse, before any work, text of a job that no font can draw (the first, naming its field)."""
    for text, field in drawn_texts(job):
        require_font(text, field)
