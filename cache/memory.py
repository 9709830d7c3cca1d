"""Memory level: a small, thread-safe LRU of hot metadata.

It holds two things per process, never artifact bytes:
  * entry records of artifacts this process already verified (so a second hit
    skips the checksum as long as the file's inode, size and mtime are unchanged);
  * `put_meta` dictionaries (sentence spans, image sizes, ...).
Other processes can change the disk level behind it, so every record is checked
against the file (or the index) before it is trusted.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any, Hashable


class MemoryLevel:
    def __init__(self, max_items: int = 4096):
        self.max_items = max(0, int(max_items))
        self._items: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, name: Hashable) -> Any | None:
        with self._lock:
            value = self._items.get(name)
            if value is None:
                self.misses += 1
                return None
            self._items.move_to_end(name)
            self.hits += 1
            return value

    def put(self, name: Hashable, value: Any) -> None:
        if self.max_items == 0:
            return
        with self._lock:
            self._items[name] = value
            self._items.move_to_end(name)
            while len(self._items) > self.max_items:
                self._items.popitem(last=False)

    def drop(self, name: Hashable) -> None:
        with self._lock:
            self._items.pop(name, None)

    def drop_key(self, key: str) -> None:
        """Forget every record belonging to one cache key."""
        with self._lock:
            for name in [n for n in self._items if isinstance(n, tuple) and n[1] == key]:
                del self._items[name]

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def stats(self) -> dict:
        with self._lock:
            return {"items": len(self._items), "hits": self.hits, "misses": self.misses}
