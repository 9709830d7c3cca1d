"""Caption cues timed to the speech: each word where the voice says it (word times from the
speech, generators/word_timing.py and align.py), by its share of the letters only when the
speech came without them."""
from __future__ import annotations

from dataclasses import dataclass

from .speech import Sentence
from .word_timing import Word, join_words, letter_count_words, split_words, _spaceless


@dataclass(frozen=True)
class Cue:
    text: str
    start: float
    end: float
    words: tuple[Word, ...] = ()   # the cue's words, timed like the cue


def sentence_words(sentence: Sentence) -> list[Word]:
    """The sentence's timed words: from the speech when known, else by letter counts."""
    if sentence.words:
        return list(sentence.words)
    return letter_count_words(sentence.text, sentence.start, sentence.end)


def _line_size(words: list[Word], words_per_line: int) -> int:
    # characters of scripts without spaces are short words: about three make one
    if words and sum(_spaceless(w.text[0]) for w in words) > len(words) / 2:
        return words_per_line * 3
    return words_per_line


def cues_for(sentences: tuple[Sentence, ...] | list[Sentence], words_per_line: int,
             offset: float = 0.0) -> list[Cue]:
    """Lines of `words_per_line` words per sentence, each from its first word's start to its
    last word's end (plus `offset`)."""
    cues: list[Cue] = []
    for sentence in sentences:
        words = [w.shifted(offset) for w in sentence_words(sentence)]
        size = _line_size(words, words_per_line)
        for i in range(0, len(words), size):
            group = words[i:i + size]
            cues.append(Cue(join_words([w.text for w in group]), group[0].start,
                            max(group[-1].end, group[0].start), tuple(group)))
    return cues


def shift_cues(cues, by: float) -> list[Cue]:
    return [Cue(c.text, c.start + by, c.end + by, tuple(w.shifted(by) for w in c.words)) for c in cues]


def cue_at(cues: list[Cue], t: float) -> int | None:
    """Index of the cue showing at time t; a cue stays until the next one starts (short gaps)."""
    for i, cue in enumerate(cues):
        nxt = cues[i + 1].start if i + 1 < len(cues) else cue.end
        hold = min(nxt, cue.end + 0.25)
        if cue.start <= t < max(cue.end, hold):
            return i
    return None


def word_at(cue: Cue, t: float) -> int | None:
    """Index of the word of `cue` being said at time t (the last one begun), or None before the first."""
    found = None
    for i, word in enumerate(cue.words):
        if word.start <= t:
            found = i
    return found
