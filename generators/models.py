"""Model registry: heavy models loaded lazily, once per process, shared by every scene.

    model = MODELS.get(("tts", "piper", voice_path, "cpu", "fp32"), loader)
    with MODELS.use(key) as model:   # inference on one model is serialized
        ...
"""
from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Hashable, Iterator


@dataclass
class _Entry:
    model: Any
    lock: threading.Lock = field(default_factory=threading.Lock)
    last_used: float = field(default_factory=time.monotonic)


class ModelRegistry:
    def __init__(self) -> None:
        self._entries: dict[Hashable, _Entry] = {}
        self._loading: dict[Hashable, threading.Lock] = {}
        self._guard = threading.Lock()
        self.load_counts: dict[Hashable, int] = {}

    def get(self, key: Hashable, loader: Callable[[], Any]) -> Any:
        entry = self._entries.get(key)
        if entry is None:
            with self._guard:
                load_lock = self._loading.setdefault(key, threading.Lock())
            with load_lock:  # double-checked: one thread loads, the others wait
                entry = self._entries.get(key)
                if entry is None:
                    entry = _Entry(loader())
                    with self._guard:
                        self._entries[key] = entry
                        self.load_counts[key] = self.load_counts.get(key, 0) + 1
        entry.last_used = time.monotonic()
        return entry.model

    @contextlib.contextmanager
    def use(self, key: Hashable, loader: Callable[[], Any]) -> Iterator[Any]:
        model = self.get(key, loader)
        entry = self._entries[key]
        with entry.lock:
            entry.last_used = time.monotonic()
            yield model

    def unload(self, key: Hashable) -> bool:
        with self._guard:
            return self._entries.pop(key, None) is not None

    def loaded(self) -> list[Hashable]:
        with self._guard:
            return list(self._entries)


MODELS = ModelRegistry()
