"""Model registry: heavy models loaded lazily, once per process, shared by every scene and job.

Keys are tuples such as ("image", "diffusers", model_id, "cuda:0", "fp16"):
(kind, model, device, dtype, ...), so the same model on two devices is two entries.

    model = MODELS.get(key, loader)          # loads once: one thread loads, the others wait
    with MODELS.use(key, loader) as model:   # inference on one model is serialized (queued:
        ...                                  #   jobs take turns on it, first come first served)
    with MODELS.share(key, loader) as model: # a model whose calls may overlap (Piper: onnxruntime
        ...                                  #   runs are thread-safe); kept loaded while in use
    MODELS.batched(key, loader, group, items, run, max_batch)
                                             # items of several callers (jobs) run as one call
    MODELS.unload(key)                       # explicit unload

`load_counts[key]` counts the loads of each key (a test or benchmark sees one copy per
process). Several jobs of one process (MAX_JOBS) reach the same entries: a second job
asking while the first loads waits for that load (a lock per key), never loads again.

Hooks for the memory watch (RSS / GPU thresholds):
    MODELS.unload_least_recently_used()      # drop the model idle the longest (never one in use)
    MODELS.unload_idle(seconds)              # drop models unused for that long
    free_gpu_memory()                        # empty the CUDA cache (no torch import)
"""
from __future__ import annotations

import contextlib
import gc
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Hashable, Iterator, Sequence


@dataclass
class _Entry:
    model: Any
    lock: threading.Lock = field(default_factory=threading.Lock)
    last_used: float = field(default_factory=time.monotonic)
    busy: int = 0  # threads inside use() / share() / batched() right now


class _Ask:
    """One caller's items waiting for a batched call."""

    def __init__(self, items: Sequence[Any]):
        self.items = list(items)
        self.results: list[Any] | None = None
        self.error: BaseException | None = None
        self.done = False
        self.finished = threading.Event()

    def end(self, results: list[Any] | None, error: BaseException | None) -> None:
        self.results, self.error, self.done = results, error, True
        self.finished.set()


class ModelRegistry:
    def __init__(self) -> None:
        self._entries: dict[Hashable, _Entry] = {}
        self._loading: dict[Hashable, threading.Lock] = {}
        self._waiting: dict[tuple, deque[_Ask]] = {}   # (key, group) -> asks not yet run
        self._guard = threading.Lock()
        self.load_counts: dict[Hashable, int] = {}

    def _entry(self, key: Hashable, loader: Callable[[], Any], hold: bool = False) -> _Entry:
        """The entry for `key`, loaded once; `hold`: counted busy from the moment it is found
        (so the memory watch cannot unload it between the lookup and its use)."""
        while True:
            with self._guard:
                entry = self._entries.get(key)
                if entry is not None:
                    entry.busy += hold
                    entry.last_used = time.monotonic()
                    return entry
                load_lock = self._loading.setdefault(key, threading.Lock())
            with load_lock:   # one thread loads, the others wait for it, then find it
                with self._guard:
                    loaded = key in self._entries
                if not loaded:
                    entry = _Entry(loader())
                    with self._guard:
                        self._entries[key] = entry
                        self.load_counts[key] = self.load_counts.get(key, 0) + 1

    def _release(self, entry: _Entry) -> None:
        with self._guard:
            entry.busy -= 1
            entry.last_used = time.monotonic()

    def get(self, key: Hashable, loader: Callable[[], Any]) -> Any:
        return self._entry(key, loader).model

    @contextlib.contextmanager
    def use(self, key: Hashable, loader: Callable[[], Any]) -> Iterator[Any]:
        """The model for `key`, held exclusively for the duration of the block."""
        entry = self._entry(key, loader, hold=True)
        try:
            with entry.lock:
                entry.last_used = time.monotonic()
                yield entry.model
        finally:
            self._release(entry)

    @contextlib.contextmanager
    def share(self, key: Hashable, loader: Callable[[], Any]) -> Iterator[Any]:
        """The model for `key`, not held exclusively: for models whose calls may overlap
        (what is not thread-safe inside them is guarded by its own lock). It is not unloaded
        while any block is inside."""
        entry = self._entry(key, loader, hold=True)
        try:
            yield entry.model
        finally:
            self._release(entry)

    def batched(self, key: Hashable, loader: Callable[[], Any], group: Hashable,
                items: Sequence[Any], run: Callable[[Any, list[Any]], list[Any]],
                max_batch: int) -> list[Any]:
        """run(model, items) for `items`, possibly in one call with the items of other callers
        (other jobs) of the same `group` that wait for the model at the same time; results in
        `items` order. Callers take the model in turn (as use()); the one whose turn it is runs
        the oldest waiting asks of its group together, at most `max_batch` items (at least one
        ask). An error of a combined call is every one of its callers' error."""
        mine = _Ask(items)
        if not mine.items:
            return []
        waiting_key = (key, group)
        with self._guard:
            self._waiting.setdefault(waiting_key, deque()).append(mine)
        entry = self._entry(key, loader, hold=True)
        try:
            while not mine.done:
                with entry.lock:
                    taken = [] if mine.done else self._take(waiting_key, max_batch)
                    if taken:
                        _run_together(entry.model, taken, run)
                        continue
                mine.finished.wait()   # taken by a caller holding a reloaded copy: its result
        finally:
            self._release(entry)
        if mine.error is not None:
            raise mine.error
        return mine.results or []

    def _take(self, waiting_key: tuple, max_batch: int) -> list[_Ask]:
        """The oldest waiting asks of a group, up to max_batch items (at least one ask)."""
        with self._guard:
            queue = self._waiting.get(waiting_key)
            taken: list[_Ask] = []
            size = 0
            while queue and (not taken or size + len(queue[0].items) <= max_batch):
                size += len(queue[0].items)
                taken.append(queue.popleft())
            if queue is not None and not queue:
                del self._waiting[waiting_key]
            return taken

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

    def queued(self, key: Hashable) -> int:
        """Asks waiting for a batched call on `key` (all groups)."""
        with self._guard:
            return sum(len(q) for (k, _group), q in self._waiting.items() if k == key)

    def loaded(self) -> list[Hashable]:
        with self._guard:
            return list(self._entries)

    def last_used(self, key: Hashable) -> float | None:
        entry = self._entries.get(key)
        return entry.last_used if entry else None


def _run_together(model: Any, asks: list[_Ask], run: Callable[[Any, list[Any]], list[Any]]) -> None:
    """One call for every ask's items; each ask gets its share of the results (or the error)."""
    flat = [item for ask in asks for item in ask.items]
    try:
        results = list(run(model, flat))
        if len(results) != len(flat):
            raise RuntimeError(f"a batched call gave {len(results)} results for {len(flat)} items")
    except BaseException as exc:  # noqa: BLE001 - handed to every caller of the call
        for ask in asks:
            ask.end(None, exc)
        return
    start = 0
    for ask in asks:
        ask.end(results[start:start + len(ask.items)], None)
        start += len(ask.items)


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
