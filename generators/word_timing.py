"""Word times from the speech itself: Piper's phoneme alignments mapped onto the words of the text.

Piper (with the `onnx` package) reports how many audio samples each phoneme took.
espeak separates words by a space phoneme, so the phonemes come in groups, one per
spoken word. A written word can be spoken as several (``2024`` -> "two thousand
twenty four") or as none (a dash): each written word is phonemized on its own to
learn how many groups it makes, and the groups are handed out in order. When the
counts disagree anyway (espeak joined or split words in context), the groups are
spread over the words in proportion to their expected counts.

    groups = phoneme_groups(alignments, offset)       # [(start_sample, end_sample)]
    words = assign_words(text_words, expected, groups, rate)
"""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

# phonemes that are pauses or punctuation, not sounds of the word
PUNCTUATION = set(",.;:!?¡¿—–-…\"'«»“”‘’()[]{}")
BOUNDARY = " "
EDGES = ("^", "$", "_")  # BOS, EOS, PAD


@dataclass(frozen=True)
class Word:
    text: str
    start: float   # seconds from the start of the speech
    end: float

    def shifted(self, by: float, scale: float = 1.0) -> "Word":
        return Word(self.text, self.start * scale + by, self.end * scale + by)


def _is_sound(phoneme: str) -> bool:
    return phoneme not in PUNCTUATION and phoneme not in EDGES and phoneme != BOUNDARY


def count_groups(phonemes: Iterable[str]) -> int:
    """Spoken words in a phoneme sequence: runs of sounds between space phonemes."""
    count, inside = 0, False
    for ph in phonemes:
        if ph == BOUNDARY:
            inside = False
        elif _is_sound(ph) and not inside:
            count, inside = count + 1, True
    return count


def phoneme_groups(alignments: Sequence, offset: int = 0) -> list[tuple[int, int]]:
    """(start, end) sample of each spoken word in one Piper chunk's phoneme alignments
    (objects with .phoneme and .num_samples); `offset` is the chunk's first sample."""
    groups: list[tuple[int, int]] = []
    cursor = offset
    current: list[int] | None = None
    for al in alignments:
        ph, n = al.phoneme, int(al.num_samples)
        if ph == BOUNDARY:
            current = None
        elif _is_sound(ph):
            if current is None:
                current = [cursor, cursor + n]
                groups.append(current)  # type: ignore[arg-type]
            else:
                current[1] = cursor + n
        cursor += n
    return [(a, b) for a, b in groups]


def expected_groups(words: Sequence[str], phonemize: Callable[[str], list[list[str]]]) -> list[int]:
    """How many spoken words each written word makes (0 for punctuation alone)."""
    counts = []
    for word in words:
        try:
            counts.append(sum(count_groups(sentence) for sentence in phonemize(word)))
        except Exception:  # noqa: BLE001 - a word espeak cannot read counts as one
            counts.append(1)
    return counts


def assign_words(words: Sequence[str], expected: Sequence[int], groups: Sequence[tuple[int, int]],
                 rate: int) -> list[Word]:
    """Times of the written `words` from the spoken `groups` (sample spans, in order)."""
    if not words:
        return []
    if not groups:
        return []
    total_expected = sum(expected)
    n = len(groups)
    bounds: list[tuple[int, int]] = []
    if total_expected == n:
        cursor = 0
        for e in expected:
            bounds.append((cursor, cursor + e))
            cursor += e
    else:  # espeak read the sentence differently from word by word: spread in proportion
        weights = [max(e, 1) for e in expected]
        total = float(sum(weights))
        cum = 0.0
        for w in weights:
            a = int(round(cum * n / total))
            cum += w
            b = max(a + 1, int(round(cum * n / total))) if a < n else a
            bounds.append((min(a, n), min(b, n)))
    out: list[Word] = []
    last_end = groups[0][0]
    for word, (a, b) in zip(words, bounds):
        if b > a:
            start, end = groups[a][0], groups[b - 1][1]
        else:  # spoken as nothing (a dash): a moment at the current place
            start = end = groups[a][0] if a < n else last_end
        out.append(Word(word, start / rate, end / rate))
        last_end = end
    return out


def letter_count_words(text: str, start: float, end: float) -> list[Word]:
    """The last fallback: words timed by their share of the letters of the span."""
    words = split_words(text)
    if not words:
        return []
    weights = [max(1, sum(ch.isalnum() for ch in w)) + (2 if w[-1:] in ",;:" else 0) for w in words]
    total = float(sum(weights))
    span = end - start
    out, cursor = [], 0.0
    for word, weight in zip(words, weights):
        a = start + span * cursor / total
        cursor += weight
        out.append(Word(word, a, start + span * cursor / total))
    return out


def _spaceless(ch: str) -> bool:
    """Scripts written without spaces between words (CJK, kana, Thai, Lao, Khmer, Myanmar)."""
    code = ord(ch)
    return (0x3040 <= code <= 0x30FF or 0x3400 <= code <= 0x4DBF or 0x4E00 <= code <= 0x9FFF
            or 0xF900 <= code <= 0xFAFF or 0x20000 <= code <= 0x3FFFF or 0x0E00 <= code <= 0x0EFF
            or 0x1000 <= code <= 0x109F or 0x1780 <= code <= 0x17FF or 0xFF66 <= code <= 0xFF9D)


def split_words(text: str) -> list[str]:
    """Caption words: whitespace-separated words; text in scripts without spaces is cut
    into characters (marks and punctuation stay with the character before them)."""
    out: list[str] = []
    for token in text.split():
        if not any(_spaceless(ch) for ch in token):
            out.append(token)
            continue
        piece = ""
        for ch in token:
            attach = unicodedata.category(ch)[0] in "MP" or (not _spaceless(ch) and not _spaceless(piece[-1:] or "a"))
            opening = piece and all(unicodedata.category(c) in ("Ps", "Pi") for c in piece)
            if piece and not attach and not opening:
                out.append(piece)
                piece = ""
            piece += ch
        if piece:
            out.append(piece)
    return out


def _base(text: str) -> str:
    """The last character of `text` that is not a mark or punctuation."""
    for ch in reversed(text):
        if unicodedata.category(ch)[0] not in "MP":
            return ch
    return ""


def join_words(words: Sequence[str]) -> str:
    """Words back into a line: no space between characters of scripts without spaces."""
    line = ""
    for word in words:
        line += separator(line, word) + word
    return line


def separator(before: str, word: str) -> str:
    """' ' between `before` and `word`, or '' (none before the first word, none inside
    text of a script without spaces)."""
    if not before or (_spaceless(_base(before) or "a") and _spaceless(word[0])):
        return ""
    return " "
