"""Chatterbox TTS (`voice.provider: chatterbox`): expressive speech and voice cloning.

An optional extra (requirements-gpu.txt: chatterbox-tts, which pins torch 2.6 and needs
torchaudio). The package is imported lazily; without it a job asking for Chatterbox fails
with ProviderUnavailable naming the package, and the worker carries on.

    model = ChatterboxTTS.from_local(CHATTERBOX_MODEL_DIR, device)   # when set
    model = ChatterboxTTS.from_pretrained(device)                     # else
    wav = model.generate(text, audio_prompt_path=..., exaggeration=..., cfg_weight=...)
          # torch tensor (1, n) at model.sr

The model is loaded once per (model, device) through the registry; inference on it is
serialized. Voice cloning uses the job's reference audio (global_audio_prompt_url, fetched
by the pipeline and passed as a local path); its content hash is part of the identity.
Sentences longer than MAX_CHUNK_CHARS are split at clause boundaries and joined again.
"""
from __future__ import annotations

import importlib
import importlib.util
import re
import threading
from pathlib import Path

import numpy as np

from cache.keys import file_md5
from jobmodel.errors import JobFailed, ProviderUnavailable

from . import devices
from .models import MODELS, ModelRegistry
from .stretch import time_stretch

MAX_CHUNK_CHARS = 300
CHUNK_GAP_S = 0.06       # silence between the pieces of one split sentence
INSTALL_HINT = ("voice.provider 'chatterbox' needs the chatterbox-tts package "
                "(pip install chatterbox-tts; it needs torch 2.6 and torchaudio)")

_CLAUSE_END = re.compile(r"(?<=[,;:\u2014\u2013)])\s+|\s+(?=[\u2014\u2013(-]\s)")


def split_long_sentence(text: str, limit: int = MAX_CHUNK_CHARS) -> list[str]:
    """`text` in pieces of at most `limit` characters, cut at clause boundaries where possible,
    else between words, else (one endless word) anywhere."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return [text] if text else []
    return _pack((part for clause in _CLAUSE_END.split(text) for part in _fit(clause, limit)), limit)


def _fit(clause: str, limit: int) -> list[str]:
    """A clause cut between words into pieces of at most `limit` characters."""
    if len(clause) <= limit:
        return [clause] if clause else []
    chunks = (word[i:i + limit] for word in clause.split(" ") for i in range(0, max(len(word), 1), limit))
    return _pack(chunks, limit)


def _pack(parts, limit: int) -> list[str]:
    """Join parts with spaces, greedily, into pieces of at most `limit` characters."""
    pieces: list[str] = []
    current = ""
    for part in parts:
        joined = f"{current} {part}" if current else part
        if len(joined) <= limit:
            current = joined
        else:
            if current:
                pieces.append(current)
            current = part
    if current:
        pieces.append(current)
    return pieces


class _Loaded:
    """A loaded model and the voice it came with (restored when a job has no reference)."""

    def __init__(self, model):
        self.model = model
        self.default_conds = getattr(model, "conds", None)


class ChatterboxProvider:
    name = "chatterbox"

    def __init__(self, settings, registry: ModelRegistry = MODELS):
        self.model_dir = (getattr(settings, "CHATTERBOX_MODEL_DIR", "") or "").strip()
        self.device_setting = getattr(settings, "TTS_DEVICE", "auto") or "auto"
        self.registry = registry
        self._device: str | None = None
        self._lock = threading.Lock()

    def check(self, voice, field: str = "voice.name") -> None:
        """Before any work: nothing to look up. The package and the model are checked when first
        used (ProviderUnavailable naming voice.provider); a reference voice is an asset, fetched
        and checked like any other."""

    # -- package, device, model -----------------------------------------------
    @staticmethod
    def check_installed() -> None:
        """ProviderUnavailable naming the package when chatterbox-tts is not installed."""
        try:
            found = importlib.util.find_spec("chatterbox") is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            raise ProviderUnavailable(INSTALL_HINT, field="voice.provider")

    def device(self) -> str:
        with self._lock:
            if self._device is None:
                self._device = devices.resolve_device(self.device_setting, "TTS_DEVICE")
            return self._device

    def model_key(self) -> tuple:
        return ("tts", "chatterbox", self.model_dir or "pretrained", self.device(), "fp32")

    def _load(self) -> _Loaded:
        self.check_installed()
        try:
            module = importlib.import_module("chatterbox.tts")
        except ImportError as exc:
            raise ProviderUnavailable(f"{INSTALL_HINT}; importing it failed: {exc}",
                                      field="voice.provider") from exc
        device = self.device()
        if self.model_dir:
            folder = Path(self.model_dir).expanduser()
            if not folder.is_dir():
                raise ProviderUnavailable(f"CHATTERBOX_MODEL_DIR={self.model_dir!r} is not a folder "
                                          "on this machine", field="CHATTERBOX_MODEL_DIR")
            try:
                model = module.ChatterboxTTS.from_local(str(folder), device)
            except (OSError, RuntimeError, ValueError) as exc:
                raise ProviderUnavailable(f"Chatterbox could not load CHATTERBOX_MODEL_DIR="
                                          f"{self.model_dir!r}: {exc}", field="CHATTERBOX_MODEL_DIR") from exc
        else:
            try:
                model = module.ChatterboxTTS.from_pretrained(device)
            except (OSError, RuntimeError, ValueError) as exc:
                raise ProviderUnavailable("Chatterbox could not download its model (set CHATTERBOX_MODEL_DIR "
                                          f"to a local checkpoint folder on offline machines): {exc}",
                                          field="CHATTERBOX_MODEL_DIR") from exc
        return _Loaded(model)

    # -- provider interface ---------------------------------------------------
    def identity(self, voice, reference_wav: Path | None = None) -> dict:
        self.check_installed()
        return {"provider": self.name, "model": self.model_dir or "ResembleAI/chatterbox",
                "exaggeration": float(voice.exaggeration), "cfg_weight": float(voice.cfg_weight),
                "speed": float(voice.speed),
                "reference_md5": file_md5(Path(reference_wav)) if reference_wav else None}

    def synthesize_sentences(self, sentences: list[str], voice, reference_wav=None):
        prompt = str(Path(reference_wav)) if reference_wav else None
        chunks: list[np.ndarray] = []
        with self.registry.use(self.model_key(), self._load) as loaded:
            model = loaded.model
            rate = int(model.sr)
            if prompt is None and hasattr(model, "conds"):
                if loaded.default_conds is None:
                    raise JobFailed("this Chatterbox model has no built-in voice: give the job a "
                                    "reference voice (global_audio_prompt_url)",
                                    field="global_audio_prompt_url")
                model.conds = loaded.default_conds  # not the voice cloned for an earlier job
            gap = np.zeros(int(CHUNK_GAP_S * rate), dtype=np.float32)
            for sentence in sentences:
                pieces = []
                for part in split_long_sentence(sentence):
                    if pieces:
                        pieces.append(gap)
                    pieces.append(self._speak(model, part, prompt, voice))
                spoken = np.concatenate(pieces) if pieces else np.zeros(int(0.1 * rate), np.float32)
                # Chatterbox has no pace setting: voice.speed stretches the speech, pitch kept
                chunks.append(time_stretch(spoken, rate, float(voice.speed)))
        return chunks, rate

    @staticmethod
    def _speak(model, text: str, prompt: str | None, voice) -> np.ndarray:
        try:
            wav = model.generate(text, audio_prompt_path=prompt, exaggeration=float(voice.exaggeration),
                                 cfg_weight=float(voice.cfg_weight))
        except (RuntimeError, ValueError, OSError, AssertionError) as exc:
            field = "global_audio_prompt_url" if prompt and "prompt" in str(exc).lower() else "voice"
            raise JobFailed(f"Chatterbox failed to speak {text[:60]!r}: {exc}", field=field) from exc
        if hasattr(wav, "detach"):
            wav = wav.detach().float().cpu().numpy()
        samples = np.asarray(wav, dtype=np.float32).reshape(-1)
        samples = np.nan_to_num(samples, nan=0.0, posinf=1.0, neginf=-1.0)
        return np.clip(samples, -1.0, 1.0)


def create_provider(settings) -> ChatterboxProvider:
    return ChatterboxProvider(settings)
