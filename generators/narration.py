"""Narration for a scene: synthesized (cached by everything that shapes it) or recorded; the
job's global narration spread over its scenes (`scene_texts`)."""
from __future__ import annotations

import os
import wave
from pathlib import Path

from cache import make_key
from cache.keys import file_md5

from .align import align_chunk
from .speech import Sentence, Speech, join_sentences, split_sentences, write_wav
from .tts import get_tts_provider


WORD_TIMING = 1  # raise when the way words are timed changes (cached speech is made again)


def _speak_sentences(provider, sentences: list[str], voice, reference_wav, ctx):
    """(chunks, rate, words) one sentence at a time, so that a cancelled job stops between
    sentences instead of after the whole narration (the job API promises a stop within 5 s)."""
    chunks: list = []
    words: list = []
    rate = 22050
    for sentence in sentences:
        ctx.check_cancelled()
        if hasattr(provider, "synthesize_timed"):
            part, rate, timed = provider.synthesize_timed([sentence], voice, reference_wav)
        else:
            part, rate = provider.synthesize_sentences([sentence], voice, reference_wav)
            timed = [None] * len(part)
        chunks.extend(part)
        words.extend(timed)
    return chunks, rate, words


def synthesize_narration(text: str, voice, ctx, reference_wav: Path | None = None,
                         scene: int | None = None) -> Speech:
    """Speech for `text` with `voice`; sentence spans kept for subtitles."""
    provider = get_tts_provider(voice.provider, ctx.settings)
    try:
        identity = provider.identity(voice, reference_wav=reference_wav)
    except TypeError:
        identity = provider.identity(voice)
    if reference_wav is not None:
        identity = {**identity, "reference_md5": file_md5(reference_wav)}
    sentences = split_sentences(text)
    key = make_key("tts", text=sentences, timing=WORD_TIMING, **identity)
    made: dict = {}

    def produce(tmp: Path) -> None:
        with ctx.optimizer.monitor_performance("tts_synthesis", scene):
            chunks, rate, words = _speak_sentences(provider, sentences, voice, reference_wav, ctx)
        timing = "speech"
        if any(w is None for w in words):
            timing = "aligned"
            with ctx.optimizer.monitor_performance("word_alignment", scene):
                aligned = []
                for chunk, text, w in zip(chunks, sentences, words):
                    ctx.check_cancelled()
                    aligned.append(w if w is not None else align_chunk(chunk, rate, text, ctx.settings))
                words = aligned
        if any(w is None for w in words):
            timing = "letters"   # some sentences neither the voice nor the alignment could time
        samples, spans = join_sentences(chunks, sentences, rate, words=words)
        write_wav(tmp, samples, rate)
        made["speech"] = Speech(tmp, rate, len(samples) / rate, tuple(spans), timing)
        # the spans are stored before the audio is published, so audio never lacks them
        ctx.cache.put_meta(key, made["speech"].to_meta())

    path = ctx.cache.get_or_create(key, ".wav", produce)
    if "speech" not in made and ctx.cache.get_meta(key) is None and len(sentences) > 1:
        # cached audio without its sentence spans (a repaired cache index lost them):
        # make both again rather than time every caption over the whole speech
        ctx.cache.invalidate(key)
        path = ctx.cache.get_or_create(key, ".wav", produce)
    if "speech" in made:
        speech = made["speech"]
        return Speech(path, speech.sample_rate, speech.duration, speech.sentences, speech.word_timing)
    meta = ctx.cache.get_meta(key)
    if meta is not None:
        return Speech.from_meta(path, meta)
    duration = wav_duration(path)  # spans lost: one span over the whole speech
    return Speech(path, 0, duration, (Sentence(" ".join(sentences), 0.0, duration),), "letters")


def wav_duration(path: Path) -> float:
    with wave.open(str(path), "rb") as wav:
        return wav.getnframes() / float(wav.getframerate())


def recorded_narration(path: Path, transcript: str, ctx, scene: int | None = None) -> Speech:
    """A recording heard as it is; with a transcript, its words are found in it
    (generators/align.py), cached by the recording's content and the text."""
    from .align import align_recording
    from .audio import media_duration
    if not transcript.strip():
        return Speech(path, 0, media_duration(path), ())
    sentences = split_sentences(transcript)
    key = make_key("aligned-recording", audio=file_md5(path), text=sentences, timing=WORD_TIMING)
    meta = ctx.cache.get_meta(key)
    if meta is not None:
        return Speech.from_meta(path, meta)
    with ctx.optimizer.monitor_performance("word_alignment", scene):
        speech = align_recording(path, sentences, ctx.settings)
    ctx.cache.put_meta(key, speech.to_meta())
    return speech


def spread_narration(text: str, parts: int) -> list[str]:
    """Split global narration into `parts` consecutive chunks of similar length, at sentences."""
    units = split_sentences(text)
    while 0 < len(units) < parts:  # too few sentences: split the longest at a word boundary
        longest = max(range(len(units)), key=lambda i: len(units[i]))
        words = units[longest].split()
        if len(words) < 2:
            break
        mid = len(words) // 2
        units[longest:longest + 1] = [" ".join(words[:mid]), " ".join(words[mid:])]
    total = sum(len(u) for u in units)
    chunks, taken, done = [], 0, 0
    for group in range(parts):
        last = group == parts - 1
        target = total * (group + 1) / parts
        chunk: list[str] = []
        while taken < len(units) and (last or taken < len(units) - (parts - group - 1)):
            size = len(units[taken])
            if chunk and not last and abs(done + size - target) > abs(done - target):
                break
            chunk.append(units[taken])
            done += size
            taken += 1
        chunks.append(" ".join(chunk))
    return chunks


def scene_texts(job) -> list[str]:
    """Each scene's narration text: the job's narration spread over the scenes, else each scene's own."""
    if job.narration_text.strip():
        return spread_narration(job.narration_text, len(job.scenes))
    return [s.narration_text for s in job.scenes]


def narration_workers(setting: int = 0, scenes: int = 1, cores: int | None = None) -> int:
    """How many scenes of one job are narrated at once (NARRATION_WORKERS; 0: auto).

    Each scene's speech is made on its own from its own text (and cached by it), so scenes can
    be spoken side by side and come out as they would one after the other; what a voice cannot
    do twice at once is locked inside its provider (Piper: espeak-ng's phonemizer, ESPEAK_LOCK;
    Chatterbox: the model, held by one caller at a time through generators.models). auto: 1 on
    up to 4 cores (there the encoder keeps the cores busy, and two voices beside it made the first
    scene's speech, which the first pieces wait for, later: benchmarks/RESULTS.md), a quarter of
    the cores (at most 4) on more; never more than the job's scenes."""
    cores = cores or os.cpu_count() or 1
    wanted = setting or (1 if cores <= 4 else min(4, cores // 4))
    return max(1, min(wanted, scenes))
