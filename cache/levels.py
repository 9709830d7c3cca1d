"""Shared levels: where an artifact made on one machine is found by the others.

The cache asks its shared levels, in order, after memory and disk miss (the Redis level
with CACHE_REDIS=on, then the level CACHE_STORE names), copies a hit down to disk, and
hands every artifact it makes to each of them. A level checks what it reads back (size and
digest) and never fails a job: trouble is logged and the level answers "not here".

A level other than Redis is a plug-in of an upper layer (the S3 level is in storage/, which
may use boto3): it registers a maker for its URL scheme with `@shared_level("s3")`, and
`open_levels(config)` makes the one CacheConfig.store_url (CACHE_STORE) names. The interface is bytes in and out
with their digest (the SHA-256 the disk level recorded), so every level is interchangeable;
`copy_down` (cache/redis_level.py) copies a hit of any level to disk, checking it again.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Protocol

from .redis_level import RemoteArtifact, copy_down

LEVEL_MAKERS: dict[str, Callable[[str, Any], "SharedLevel"]] = {}


class SharedLevel(Protocol):
    name: str      # counted as hits.level.<name> in the cache statistics

    def fetch(self, key: str) -> RemoteArtifact | None: ...

    def store(self, key: str, ext: str, kind: str, path: Path, digest: str, created: float,
              ttl_s: float | None) -> bool: ...

    def delete(self, key: str) -> None: ...

    def get_meta(self, key: str) -> dict | None: ...

    def put_meta(self, key: str, meta: dict, created: float, ttl_s: float | None) -> None: ...

    def clear(self) -> int: ...

    def describe(self) -> dict: ...

    def close(self) -> None: ...


def shared_level(scheme: str) -> Callable[[Callable], Callable]:
    """Register `maker(url, config) -> SharedLevel` for CACHE_STORE=<scheme>://... (config: the
    cache's CacheConfig)."""
    def register(maker: Callable) -> Callable:
        if scheme in LEVEL_MAKERS:
            raise ValueError(f"shared cache level {scheme!r} is registered twice")
        LEVEL_MAKERS[scheme] = maker
        return maker
    return register


def open_levels(config: Any) -> list[SharedLevel]:
    """The shared level a CacheConfig's store_url (CACHE_STORE) names (none when it is empty)."""
    store = getattr(config, "store_url", "") or ""
    if not store:
        return []
    scheme = store.partition("://")[0].lower()
    if scheme not in LEVEL_MAKERS:
        raise ValueError(f"CACHE_STORE: no shared cache level for {scheme}:// is loaded "
                         f"(import storage first; known: {', '.join(sorted(LEVEL_MAKERS)) or 'none'})")
    return [LEVEL_MAKERS[scheme](store, config)]


def from_shared(cache: Any, key: str, ext: str, kind: str,
                max_age_s: float | None) -> tuple[Path | None, str]:
    """Copy an artifact of a shared level down to the cache's disk level (key lock held):
    (its path, the level's name), or (None, '') when no level has a servable copy."""
    for level in cache.shared:
        path = copy_down(level, cache.disk, key, ext, kind, max_age_s, cache.default_ttl_s)
        if path is not None:
            return path, level.name
    return None, ""


def share(cache: Any, key: str, ext: str, kind: str, entry: Any, ttl_s: float | None) -> None:
    """Hand a new disk entry to every shared level (each copes with its own trouble)."""
    for level in cache.shared:
        level.store(key, ext, kind, cache.disk.path(entry), entry.digest, entry.created, ttl_s)
