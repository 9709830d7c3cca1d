"""Artifact cache: MD5-keyed artifacts (narration audio, pictures, rendered pieces).

The pipeline uses this interface:

    cache = open_cache(config)   # a CacheConfig (cache/config.py), made by the entry point
    key = make_key("tts", provider="piper", voice=..., text=...)   # a CacheKey (str) with .kind
    path = cache.get_or_create(key, ".wav", produce)   # produce(tmp_path) writes the file
    meta = cache.get_meta(key); cache.put_meta(key, {...})
    cache.stats() -> {"hits", "misses", "hit_rate", "by_kind", "by_level", "lifetime", ...}

`get_or_create` returns a verified file in the cache (or, when the cache is off,
a fresh file under WORK_DIR/uncached that the caller owns: `cache.release(path)` or
`cache.close()` deletes it), never a half-written one.

Also: get(key, ext, max_age_hours=) / put(key, ext, file, ttl_hours=) / contains /
invalidate(key) / get_size() (MB) / cleanup_expired() / clear() / counts() and
stats(since=counts_snapshot) for one job's share. Levels: memory (cache/memory.py),
disk (cache/disk.py + cache/index.py), then the shared levels (cache/levels.py): Redis
(cache/redis_level.py, with CACHE_REDIS=on) and the one CACHE_STORE names (S3: storage/cache_level.py).
Every object's size and SHA-256 are checked when it is served (cache/integrity.py); a damaged
index is replaced and the intact objects adopted back (cache/index_health.py, index_repair.py).
Command line: protovideo/cli/cache.py (`main_worker.py cache stats|cleanup|clear [--json]`).
"""
from __future__ import annotations

from .config import CacheConfig
from .keys import CacheKey, FORMAT_VERSION, file_md5, make_key
from .store import ArtifactCache, open_cache

__all__ = ["ArtifactCache", "CacheConfig", "CacheKey", "open_cache", "make_key", "file_md5",
           "FORMAT_VERSION"]
