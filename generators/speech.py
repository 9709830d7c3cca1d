"""Speech: narration audio plus the time span of every sentence in it.

Sentence spans come from the synthesis itself (each sentence is synthesized
as its own chunk), so subtitles can be timed exactly to them. Word times come
from the voice's phoneme alignments (generators/word_timing.py) or from aligning
the text to the audio (generators/align.py); a sentence without them is timed by
letter counts when captions are made.
"""
from __future__ import annotations

import re
import wave
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .word_timing import Word

# A sentence ends at . ! ? … (or CJK 。！？) followed by space/end; newlines end one too.
_SENTENCE_END = re.compile(r"(?<=[.!?…。！？])[\"'”’)\]]*\s+|\n+")


@dataclass(frozen=True)
class Sentence:
    text: str
    start: float   # seconds from the start of the speech
    end: float
    words: tuple[Word, ...] = ()   # seconds from the start of the speech; () when unknown


@dataclass(frozen=True)
class Speech:
    path: Path                  # mono 16-bit WAV
    sample_rate: int
    duration: float
    sentences: tuple[Sentence, ...] = field(default_factory=tuple)
    # where the words' times came from: "speech" (the voice's alignments), "aligned" (the text
    # aligned to the audio), "letters" (letter counts), "" (no text to show)
    word_timing: str = ""

    def to_meta(self) -> dict:
        return {"sample_rate": self.sample_rate, "duration": self.duration, "word_timing": self.word_timing,
                "sentences": [[s.text, s.start, s.end, [[w.text, w.start, w.end] for w in s.words]]
                              for s in self.sentences]}

    @classmethod
    def from_meta(cls, path: Path, meta: dict) -> "Speech":
        sentences = []
        for item in meta["sentences"]:
            words = tuple(Word(w, float(a), float(b)) for w, a, b in (item[3] if len(item) > 3 else ()))
            sentences.append(Sentence(item[0], float(item[1]), float(item[2]), words))
        return cls(Path(path), int(meta["sample_rate"]), float(meta["duration"]), tuple(sentences),
                   str(meta.get("word_timing", "")))

    @property
    def words(self) -> list[Word]:
        return [w for s in self.sentences for w in s.words]


def split_sentences(text: str) -> list[str]:
    """Split narration into sentences, keeping their punctuation."""
    parts = [p.strip() for p in _SENTENCE_END.split(text or "")]
    return [p for p in parts if p and re.search(r"\w", p)]


def write_wav(path: Path, samples: np.ndarray, sample_rate: int) -> None:
    """Write float32 mono samples in [-1, 1] as 16-bit PCM WAV."""
    pcm = (np.clip(samples, -1.0, 1.0) * 32767.0).astype("<i2")
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(sample_rate)
        wav.writeframes(pcm.tobytes())


def join_sentences(chunks: list[np.ndarray], texts: list[str], sample_rate: int,
                   gap: float = 0.18, words: list | None = None) -> tuple[np.ndarray, list[Sentence]]:
    """Concatenate per-sentence audio with short pauses; return samples and spans.
    `words[i]`: the words of chunk i timed from the chunk's start (or None)."""
    pause = np.zeros(int(gap * sample_rate), dtype=np.float32)
    pieces: list[np.ndarray] = []
    spans: list[Sentence] = []
    cursor = 0
    for i, (chunk, text) in enumerate(zip(chunks, texts)):
        chunk = np.asarray(chunk, dtype=np.float32).reshape(-1)
        if i:
            pieces.append(pause)
            cursor += len(pause)
        start = cursor / sample_rate
        timed = tuple(w.shifted(start) for w in (words[i] or ())) if words else ()
        spans.append(Sentence(text, start, (cursor + len(chunk)) / sample_rate, timed))
        pieces.append(chunk)
        cursor += len(chunk)
    samples = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.float32)
    return samples, spans
