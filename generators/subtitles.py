"""Subtitles timed to the speech: sentences exactly, words by their share of the sentence."""
from __future__ import annotations

from dataclasses import dataclass

from .speech import Sentence


@dataclass(frozen=True)
class Cue:
    text: str
    start: float
    end: float


def _weight(word: str) -> float:
    # a word's speaking time grows with its letters; punctuation adds a small pause
    return max(1, sum(ch.isalnum() for ch in word)) + (2 if word[-1:] in ",;:" else 0)


def cues_for(sentences: tuple[Sentence, ...] | list[Sentence], words_per_line: int,
             offset: float = 0.0) -> list[Cue]:
    """Split each sentence into lines of `words_per_line` words, timed inside the sentence."""
    cues: list[Cue] = []
    for sentence in sentences:
        words = sentence.text.split()
        if not words:
            continue
        if len(words) == 1 and len(words[0]) > 24 and not words[0].isascii():
            # scripts without spaces (CJK): group characters instead of words
            words = [words[0][i:i + 8] for i in range(0, len(words[0]), 8)]
        weights = [_weight(w) for w in words]
        total = float(sum(weights))
        span = sentence.end - sentence.start
        cursor = 0.0
        for i in range(0, len(words), words_per_line):
            group = weights[i:i + words_per_line]
            start = sentence.start + span * cursor / total
            cursor += sum(group)
            end = sentence.start + span * cursor / total
            cues.append(Cue(" ".join(words[i:i + words_per_line]), offset + start, offset + end))
    return cues


def cue_at(cues: list[Cue], t: float) -> int | None:
    """Index of the cue showing at time t; a cue stays until the next one starts (short gaps)."""
    for i, cue in enumerate(cues):
        nxt = cues[i + 1].start if i + 1 < len(cues) else cue.end
        hold = min(nxt, cue.end + 0.25)
        if cue.start <= t < max(cue.end, hold):
            return i
    return None
