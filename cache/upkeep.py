"""Upkeep of a cache folder: expired entries, stray files and lock files, clearing.

Used by `cache cleanup|clear` and ArtifactCache.cleanup_expired()/clear().
"""
from __future__ import annotations

import time
from typing import Any

HOUR = 3600.0
STALE_TEMP_S = HOUR  # temp/orphan files older than this are swept by cleanup_expired()


def cleanup_expired(cache: Any) -> int:
    """Drop expired entries and meta, stale temp/orphan files and old scratch files;
    returns how many artifact files were removed (entries + stray files)."""
    removed = cache.scratch_files.sweep(older_than_s=max(cache.protect_recent_s, HOUR))
    disk = cache.disk
    if not cache.enabled or disk is None:
        return removed
    now = time.time()
    for entry in disk.index.expired(now, cache.default_ttl_s):
        if disk.try_remove(entry, {"expired": 1}):
            cache.memory.drop_key(entry.key)
            removed += 1
    disk.index.delete_expired_meta(now, cache.default_ttl_s)
    removed += disk.sweep_files(STALE_TEMP_S, STALE_TEMP_S)
    disk.sweep_locks(STALE_TEMP_S)
    cache._enforce_limit(keep=set())
    return removed


def clear_all(cache: Any, shared: bool = True) -> int:
    """Remove every entry (and, with shared=True, the Redis level's); counters stay."""
    removed = cache.scratch_files.discard_mine()
    removed += cache.scratch_files.sweep(older_than_s=max(cache.protect_recent_s, HOUR))
    disk = cache.disk
    if not cache.enabled or disk is None:
        return removed
    for entry in disk.index.entries():
        with disk.key_lock(entry.key):
            disk.remove_key(entry.key)
            removed += 1
    disk.index.clear()
    removed += disk.sweep_files(0, STALE_TEMP_S)
    cache.memory.clear()
    for level in cache.shared if shared else ():
        level.clear()
    return removed
