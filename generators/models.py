"""Model registry: heavy models loaded lazily, once per process, shared by every scene.

Keys are tuples such as ("image", "diffusers", model_id, "cuda:0", "fp16"):
(kind, model, device, dtype, ...), so the same model on two devices is two entries.

    model = MODELS.get(key, loader)          # loads once (double-checked locking)
    with MODELS.use(key, loader) as model:   # inference on one model is serialized
        ...
    MODELS.unload(key)                       # explicit unload

Hooks for the memory watch (RSS / GPU thresholds):
    MODELS.unload_least_recently_used()      # drop the model idle the longest
    MODELS.unload_idle(seconds)              # drop models unused for that long
    free_gpu_memory()                        # empty the CUDA cache (no torch import)
"""
from __future__ import annotations

import contextlib
import gc
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Hashable, Iterator


@dataclass
class _Entry:
    model: Any
    lock: threading.Lock = field(default_factory=threading.Lock)
    last_used: float = field(default_factory=time.monotonic)
    busy: int = 0  # threads inside use() right now


class ModelRegistry:
    def __init__(self) -> None:
        self._entries: dict[Hashable, _Entry] = {}
        self._loading: dict[Hashable, threading.Lock] = {}
        self._guard = threading.Lock()
        self.load_counts: dict[Hashable, int] = {}

    def _entry(self, key: Hashable, loader: Callable[[], Any]) -> _Entry:
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
        return entry

    def get(self, key: Hashable, loader: Callable[[], Any]) -> Any:
        return self._entry(key, loader).model

    @contextlib.contextmanager
    def use(self, key: Hashable, loader: Callable[[], Any]) -> Iterator[Any]:
        """The model for `key`, held exclusively for the duration of the block."""
        entry = self._entry(key, loader)
        with self._guard:
            entry.busy += 1
        try:
            with entry.lock:
                entry.last_used = time.monotonic()
                yield entry.model
        finally:
            with self._guard:
                entry.busy -= 1
            entry.last_used = time.monotonic()

    def unload(self, key: Hashable) -> bool:
        """Forget the model for `key` (the next get() loads it again)."""
        with self._guard:
            removed = self._entries.pop(key, None) is not None
        if removed:
            _release_memory()
        return removed

    def unload_all(self) -> int:
        with self._guard:
            count = len(self._entries)
            self._entries.clear()
        if count:
            _release_memory()
        return count

    def unload_least_recently_used(self) -> Hashable | None:
        """Unload the idle model unused the longest; its key, or None if none is idle."""
        with self._guard:
            idle = [(e.last_used, k) for k, e in self._entries.items() if e.busy == 0]
            if not idle:
                return None
            _, key = min(idle, key=lambda item: item[0])
            del self._entries[key]
        _release_memory()
        return key

    def unload_idle(self, seconds: float) -> list[Hashable]:
        """Unload every model not used for `seconds`; the keys unloaded."""
        cutoff = time.monotonic() - seconds
        with self._guard:
            keys = [k for k, e in self._entries.items() if e.busy == 0 and e.last_used <= cutoff]
            for key in keys:
                del self._entries[key]
        if keys:
            _release_memory()
        return keys

    def loaded(self) -> list[Hashable]:
        with self._guard:
            return list(self._entries)

    def last_used(self, key: Hashable) -> float | None:
        entry = self._entries.get(key)
        return entry.last_used if entry else None


def free_gpu_memory() -> bool:
    """Empty the CUDA cache when torch is already imported and CUDA is up.

    Never imports torch itself, so the CPU-only default path stays torch-free.
    Returns True when a cache was emptied.
    """
    torch = sys.modules.get("torch")
    if torch is None:
        return False
    try:
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            torch.cuda.empty_cache()
            return True
    except Exception:  # a broken driver must not take the memory watch down
        return False
    return False


def _release_memory() -> None:
    gc.collect()
    free_gpu_memory()


MODELS = ModelRegistry()
