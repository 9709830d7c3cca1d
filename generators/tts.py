"""Narration: text -> Speech (a WAV file plus the time span of every sentence).

Providers are small classes behind one interface; each is created once per
process (`get_tts_provider`) and loads its model lazily through generators.models.

    class TTSProvider:
        name: str
        def check(self, voice: VoiceSpec, field: str)       # before any work: JobFailed naming field
        def identity(self, voice: VoiceSpec) -> dict        # what goes into cache keys
        def synthesize_sentences(self, sentences, voice, reference_wav=None)
            -> tuple[list[np.ndarray], int]   # float32 mono in [-1, 1], one per sentence; rate
"""
from __future__ import annotations

from typing import Protocol

import numpy as np

from jobmodel.errors import JobFailed
from jobmodel.spec import VoiceSpec

from .providers import ProviderTable

PROVIDER_MODULES = {
    "piper": "generators.tts_piper",
    "chatterbox": "generators.tts_chatterbox",
}
_PROVIDERS = ProviderTable(PROVIDER_MODULES)


class TTSProvider(Protocol):
    name: str

    def check(self, voice: VoiceSpec, field: str) -> None: ...

    def identity(self, voice: VoiceSpec) -> dict: ...

    def synthesize_sentences(self, sentences: list[str], voice: VoiceSpec,
                             reference_wav=None) -> tuple[list[np.ndarray], int]: ...


def get_tts_provider(name: str, settings) -> TTSProvider:
    """The process-wide provider object for `name` (module.create_provider(settings))."""
    return _PROVIDERS.get(name, settings)


def named_voices(job) -> list[tuple[str, object]]:
    """(JSON path of the name, voice) of the job's voice and every scene's own."""
    return [("voice.name", job.voice)] + [(f"{s.path}.voice.name", s.voice) for s in job.scenes if s.voice]


def voice_problems(job, settings) -> list:
    """The JobFailed of every voice that rendering would refuse, found without downloading or
    loading anything (providers with an `installed(voice, field)` check)."""
    found = []
    for field, voice in named_voices(job):
        if not voice.name:
            continue
        provider = get_tts_provider(voice.provider, settings)
        check = getattr(provider, "installed", None)
        try:
            if check is not None:
                check(voice, field)
        except JobFailed as exc:
            found.append(exc)
    return found


def check_voices(job, settings) -> None:
    """Every voice of the job checked by its own provider before any work; the error names the
    field (`voice.name`, `scenes[i].voice.name`)."""
    for field, voice in named_voices(job):
        get_tts_provider(voice.provider, settings).check(voice, field)
