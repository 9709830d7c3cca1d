"""Meta dicts of an ArtifactCache: memory level first (trusted MEMORY_META_S), then the
index, then the shared levels (Redis, CACHE_STORE). Used by ArtifactCache.get_meta()/put_meta()."""
from __future__ import annotations

import time
from typing import Any

from .keys import check_key
from .trouble import CACHE_TROUBLE

MEMORY_META_S = 300.0  # how long the memory level trusts a meta dict before asking disk again


def get_meta(cache: Any, key: str) -> dict | None:
    """The meta dict stored under key, or None."""
    if not cache.enabled:
        return None
    key = check_key(key)
    cached = cache.memory.get(("meta", key))
    now = time.time()
    if cached is not None and now < cached[0]:
        return dict(cached[1])
    if not cache.usable:
        return None
    try:
        meta = cache.disk.index.get_meta(key, now, cache.default_ttl_s)
        for level in cache.shared if meta is None else ():
            meta = level.get_meta(key)
            if meta is not None:
                cache.disk.index.put_meta(key, meta, now, None)
                break
    except CACHE_TROUBLE as exc:
        cache._give_up("reading cached details", exc)
        return None
    if meta is not None:
        cache.memory.put(("meta", key), (now + min(cache.default_ttl_s, MEMORY_META_S), meta))
    return dict(meta) if meta is not None else None


def put_meta(cache: Any, key: str, meta: dict, ttl_hours: float | None) -> None:
    """Store a small JSON-able dict under key (safe to call inside produce)."""
    if not cache.enabled:
        return
    key = check_key(key)
    ttl_s = cache._ttl_s(ttl_hours)
    meta = dict(meta)
    now = time.time()
    if cache.usable:
        cache._safely("storing cached details",
                      lambda: cache.disk.index.put_meta(key, meta, now, ttl_s))
    cache.memory.put(("meta", key), (now + min(ttl_s or cache.default_ttl_s, MEMORY_META_S), meta))
    for level in cache.shared:
        level.put_meta(key, meta, now, ttl_s)
