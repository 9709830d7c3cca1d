"""Artifact cache: MD5-keyed artifacts (narration audio, pictures, rendered pieces).

The pipeline uses only this interface:

    cache = open_cache(settings)
    key = make_key("tts", provider="piper", voice=..., text=...)
    path = cache.get_or_create(key, ".wav", produce)   # produce(tmp_path) writes the file
    meta = cache.get_meta(key); cache.put_meta(key, {...})
    cache.stats() -> {"hits", "misses", "hit_rate", ...}

`get_or_create` returns a verified file in the cache (or, when the cache is off,
a fresh file in a scratch folder), never a half-written one.
"""
from __future__ import annotations

from .keys import CacheKey, FORMAT_VERSION, file_md5, make_key
from .store import ArtifactCache, open_cache

__all__ = ["ArtifactCache", "CacheKey", "open_cache", "make_key", "file_md5", "FORMAT_VERSION"]
