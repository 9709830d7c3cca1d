"""Align known text to speech that came without word times (a recording, Chatterbox).

The way forced-alignment tools such as aeneas work: the text is synthesized with
Piper, whose phoneme alignments give exact word times in that reference speech;
both are turned into MFCC frames (10 ms) and dynamic time warping finds the
cheapest monotonic path between them; each reference word start is carried along
the path into the recording. Pauses in the recording, another voice or another
speed bend the path, not the words.

    words = align_audio(samples, rate, ref_samples, ref_rate, ref_words)
    words = align_chunk(samples, rate, text, settings)      # reference made with Piper
"""
from __future__ import annotations

import logging
from typing import Sequence

import numpy as np

from .word_timing import Word, split_words

log = logging.getLogger(__name__)

HOP_S = 0.010
WINDOW_S = 0.025
N_MELS = 40
N_MFCC = 13
MAX_CELLS = 40_000_000   # DTW cells (one byte each for the path); longer audio uses coarser frames
STEP_PENALTY = 0.5       # cost of a step off the diagonal (keeps the path from wandering)
PAUSE_KEPT_S = 0.02      # longer pauses are cut to this before warping
DELTA_WEIGHT = 0.5       # weight of the features' slopes (onsets) in the frame distance
MAX_STEP = 3             # the recording may run up to 3x faster than the reference locally


def _mel_filters(rate: int, n_fft: int, n_mels: int = N_MELS, fmax: float = 8000.0) -> np.ndarray:
    fmax = min(fmax, rate / 2)
    mel = lambda f: 2595.0 * np.log10(1.0 + f / 700.0)  # noqa: E731
    hz = lambda m: 700.0 * (10 ** (m / 2595.0) - 1.0)   # noqa: E731
    points = hz(np.linspace(mel(60.0), mel(fmax), n_mels + 2))
    bins = np.fft.rfftfreq(n_fft, 1.0 / rate)
    filters = np.zeros((n_mels, len(bins)), dtype=np.float32)
    for m in range(n_mels):
        lo, mid, hi = points[m], points[m + 1], points[m + 2]
        up = (bins - lo) / max(mid - lo, 1e-6)
        down = (hi - bins) / max(hi - mid, 1e-6)
        filters[m] = np.clip(np.minimum(up, down), 0, None)
    return filters


def mfcc(samples: np.ndarray, rate: int, hop_s: float = HOP_S) -> np.ndarray:
    """(frames, N_MFCC + 1) features: MFCCs and log energy (the last column)."""
    x = np.asarray(samples, dtype=np.float32).reshape(-1)
    x = np.append(x[:1], x[1:] - 0.97 * x[:-1])
    hop = max(1, int(round(hop_s * rate)))
    win = max(hop, int(round(WINDOW_S * rate)))
    n_fft = 1 << (win - 1).bit_length()
    if len(x) < win:
        x = np.pad(x, (0, win - len(x)))
    count = 1 + (len(x) - win) // hop
    idx = np.arange(win)[None, :] + hop * np.arange(count)[:, None]
    frames = x[idx] * np.hanning(win).astype(np.float32)
    power = np.abs(np.fft.rfft(frames, n_fft)) ** 2
    # a floor 50 dB under the loudest frame: digital silence and room noise look alike
    energy = power.sum(axis=1, keepdims=True)
    floor = float(energy.max()) * 1e-5 + 1e-10
    mels = np.log(power @ _mel_filters(rate, n_fft).T + floor / N_MELS)
    n = mels.shape[1]
    dct = np.cos(np.pi / n * (np.arange(n)[None, :] + 0.5) * np.arange(N_MFCC)[:, None])
    feats = np.concatenate([mels @ dct.T, np.log(energy + floor)], axis=1)
    return feats.astype(np.float32)


def normalized(feats: np.ndarray) -> np.ndarray:
    feats = feats - feats.mean(axis=0)
    return (feats / (feats.std(axis=0) + 1e-6)).astype(np.float32)


def with_deltas(feats: np.ndarray) -> np.ndarray:
    """Features and their slope over +-2 frames (how the sound is changing: onsets stand out)."""
    if DELTA_WEIGHT <= 0:
        return feats
    if len(feats) < 5:   # too short for a slope: flat, so both sides keep the same columns
        return np.concatenate([feats, np.zeros_like(feats)], axis=1).astype(np.float32)
    padded = np.pad(feats, ((2, 2), (0, 0)), mode="edge")
    delta = (padded[4:] - padded[:-4] + 2 * (padded[3:-1] - padded[1:-3])) / 10.0
    return np.concatenate([feats, DELTA_WEIGHT * delta / (delta.std(axis=0) + 1e-6)], axis=1).astype(np.float32)


def voiced_frames(feats: np.ndarray, hop: float, quiet_db: float = 35.0, longest: float = PAUSE_KEPT_S) -> np.ndarray:
    """Indices of the frames to align: pauses longer than `longest` are cut down to it
    (a pause in a recording is then no obstacle to the warp)."""
    log_energy = feats[:, -1]
    quiet = log_energy < log_energy.max() - quiet_db / 10.0 * np.log(10.0)
    keep = np.ones(len(feats), dtype=bool)
    limit = max(1, int(round(longest / hop)))
    i = 0
    while i < len(quiet):
        if not quiet[i]:
            i += 1
            continue
        j = i
        while j < len(quiet) and quiet[j]:
            j += 1
        if j - i > limit:
            half = limit // 2
            keep[i + half:j - (limit - half)] = False
        i = j
    return np.flatnonzero(keep)


def dtw_path(query: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """For each query frame i, the reference frame the warping path is on.

    Every step takes one query frame and 0..MAX_STEP reference frames, so every query
    frame is paid for once (no bias to short paths) and a pause in the query is the
    path standing still on the reference."""
    n, m = len(query), len(reference)
    back = np.zeros((n, m), dtype=np.uint8)
    ref_sq = (reference ** 2).sum(axis=1)
    inf = np.float32(np.inf)
    row = np.full(m, inf, dtype=np.float32)
    first = ((query[0] - reference) ** 2).sum(axis=1)
    row[:1] = first[:1]
    for i in range(1, n):
        cost = ref_sq - 2.0 * (reference @ query[i]) + float(query[i] @ query[i])
        best = row + STEP_PENALTY
        arg = np.zeros(m, dtype=np.uint8)
        for step in range(1, MAX_STEP + 1):
            shifted = np.full(m, inf, dtype=np.float32)
            shifted[step:] = row[:-step] + (0.0 if step == 1 else STEP_PENALTY * (step - 1))
            better = shifted < best
            best = np.where(better, shifted, best)
            arg[better] = step
        row = best + np.maximum(cost, 0.0)
        back[i] = arg
    # walk back from the last frames of both
    path_j = np.empty(n, dtype=np.int64)
    j = m - 1
    for i in range(n - 1, -1, -1):
        path_j[i] = j
        j -= int(back[i, j]) if i else 0
    return path_j


def align_audio(samples: np.ndarray, rate: int, ref_samples: np.ndarray, ref_rate: int,
                ref_words: Sequence[Word]) -> list[Word]:
    """`ref_words` (timed in the reference speech) carried onto `samples` by DTW."""
    duration = len(samples) / rate
    ref_duration = len(ref_samples) / ref_rate
    hop = HOP_S
    while (duration / hop) * (ref_duration / hop) > MAX_CELLS:
        hop *= 1.5
    query, reference = mfcc(samples, rate, hop), mfcc(ref_samples, ref_rate, hop)
    q_keep, r_keep = voiced_frames(query, hop), voiced_frames(reference, hop)
    kept_path = dtw_path(with_deltas(normalized(query[q_keep])), with_deltas(normalized(reference[r_keep])))
    # back to all frames: a dropped query frame (inside a long pause) is already on the
    # frame the path goes to next, so the pause counts before the word that follows it
    path = np.full(len(query), len(reference) - 1, dtype=np.int64)
    path[q_keep] = r_keep[kept_path]
    path = np.minimum.accumulate(path[::-1])[::-1]

    q_dropped = np.ones(len(query), dtype=bool)
    q_dropped[q_keep] = False

    def start_of(t: float) -> float:
        # the last query frame still on or before the word's first frame: a pause before the
        # word is spent standing on a quiet frame, either the gap's or the word's onset
        j = int(round(t / hop))
        i = max(int(np.searchsorted(path, j, side="right")) - 1, 0)
        if i + 1 < len(query) and q_dropped[i + 1]:
            # a long pause follows: nothing of the word was said before it, so the word begins
            # where the pause ends, less what the reference has of it before that point
            end = i + 1 + int(np.argmin(q_dropped[i + 1:])) if not q_dropped[i + 1:].all() else len(query)
            after = path[end] if end < len(query) else len(reference)
            i = max(i, end - max(0, int(after) - j))
        return min(i * hop, duration)

    def end_of(t: float) -> float:
        i = int(np.searchsorted(path, int(round(t / hop)), side="left"))
        return min(i * hop, duration)

    words = []
    for w in ref_words:
        start = start_of(w.start)
        words.append(Word(w.text, start, max(start, end_of(w.end))))
    return words


def reference_speech(texts: list[str], settings) -> tuple[np.ndarray, int, list[Word]] | None:
    """`texts` spoken by the default Piper voice: samples, rate and the timed words;
    None when Piper or its alignments are not available."""
    from jobmodel.spec import VoiceSpec

    from .speech import join_sentences
    from .tts import get_tts_provider
    try:
        provider = get_tts_provider("piper", settings)
        chunks, rate, timed = provider.synthesize_timed(texts, VoiceSpec(provider="piper"))
    except Exception as exc:  # noqa: BLE001 - no reference: the caller falls back to letter counts
        log.info("no reference speech for word alignment: %s", exc)
        return None
    if any(t is None or len(t) != len(split_words(text)) for t, text in zip(timed, texts)):
        return None
    samples, spans = join_sentences(chunks, texts, rate, words=timed)
    return samples, rate, [w for s in spans for w in s.words]


def align_chunk(samples: np.ndarray, rate: int, text: str, settings) -> list[Word] | None:
    """Words of `text` timed in `samples` (one sentence of speech), or None."""
    ref = reference_speech([text], settings)
    if ref is None or not ref[2]:
        return None
    return align_audio(samples, rate, *ref)


def align_recording(path, sentences: list[str], settings):
    """A recorded narration with its transcript's sentences and words timed in it
    (letter counts over the whole recording when no reference speech can be made)."""
    from .audio import decode_audio
    from .speech import Sentence, Speech
    rate = 22050
    samples = decode_audio(path, rate=rate, channels=1, what="narration")[:, 0]
    duration = len(samples) / rate
    ref = reference_speech(sentences, settings)
    if ref is None:
        return Speech(path, rate, duration, (Sentence(" ".join(sentences), 0.0, duration),), "letters")
    words = align_audio(samples, rate, *ref)
    out, k = [], 0
    for text in sentences:  # the reference words come sentence after sentence
        count = len(split_words(text))
        mine = tuple(words[k:k + count])
        k += count
        if mine:
            out.append(Sentence(text, mine[0].start, max(mine[-1].end, mine[0].start), mine))
    return Speech(path, rate, duration, tuple(out), "aligned")
