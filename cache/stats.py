"""Hit/miss counters -> the statistics dictionary of reports and `cache stats`.

Counter names: hits, misses, hits.kind.<kind>, misses.kind.<kind>, hits.level.<level>,
corrupt, expired, evictions (the same names in memory and in the index's counters table).
"""
from __future__ import annotations

from typing import Any, Mapping

from .trouble import CACHE_TROUBLE


def hit_rate(hits: int, misses: int) -> float:
    total = hits + misses
    return round(hits / total, 4) if total else 0.0


def summarize(counts: Mapping[str, int]) -> dict:
    """{"hits", "misses", "hit_rate", "by_kind", "by_level", "corrupt", "evictions", "expired"}."""
    hits, misses = counts.get("hits", 0), counts.get("misses", 0)
    by_kind: dict[str, dict] = {}
    by_level: dict[str, int] = {}
    for name, n in counts.items():
        parts = name.split(".", 2)
        if len(parts) == 3 and parts[1] == "kind" and parts[0] in ("hits", "misses"):
            slot = by_kind.setdefault(parts[2], {"hits": 0, "misses": 0})
            slot[parts[0]] += n
        elif len(parts) == 3 and parts[:2] == ["hits", "level"]:
            by_level[parts[2]] = by_level.get(parts[2], 0) + n
    for slot in by_kind.values():
        slot["hit_rate"] = hit_rate(slot["hits"], slot["misses"])
    return {"hits": hits, "misses": misses, "hit_rate": hit_rate(hits, misses),
            "by_kind": by_kind, "by_level": by_level,
            "corrupt": counts.get("corrupt", 0), "evictions": counts.get("evictions", 0),
            "expired": counts.get("expired", 0)}


def cache_stats(cache: Any, session: Mapping[str, int]) -> dict:
    """The statistics of an ArtifactCache for its session counts.

    by_kind: per key kind (tts, image, ...); by_level: where hits were served (disk, redis, s3);
    corrupt/expired/evictions: entries dropped; lifetime: the same counts persisted in
    CACHE_DIR (they survive restarts); entries, size_mb, max_size_mb, levels; unavailable:
    why this cache object went on without the disk level (only when it did).
    """
    result = summarize(session)
    result["enabled"] = cache.enabled
    if cache.usable:
        try:
            persisted = cache.disk.index.counters()
            entries, size = cache.disk.index.totals()
        except CACHE_TROUBLE as exc:
            cache._give_up("reading the statistics", exc)
        else:
            result["lifetime"] = summarize(persisted)
            result["entries"] = entries
            result["size_mb"] = round(size / 2**20, 3)
            result["max_size_mb"] = round(cache.max_bytes / 2**20, 3) if cache.max_bytes else None
            result["levels"] = ["memory", "disk"] + [level.name for level in cache.shared]
    if cache.down:
        result["unavailable"] = cache.down
    return result
