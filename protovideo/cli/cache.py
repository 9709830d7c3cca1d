"""`python main_worker.py cache stats|cleanup|clear [--json]`.

stats    entries, size, limit and the persisted hit/miss counts of CACHE_DIR
cleanup  drop expired entries, stale temp/orphan/scratch files, then enforce the size limit
clear    drop every entry (also the shared Redis level's when REDIS_URL is set); counts stay
With CACHE_ENABLED=false the folder is still inspected and cleaned if it exists.
The commands never create a cache: a CACHE_DIR without an index (run from the wrong
folder, a typo in CACHE_DIR) is an error naming the folder, exit 1. A closed stdout
(`cache stats --json | head`) is handled by the command line's entry point.
"""
from __future__ import annotations

import dataclasses
import json
import sys

from cache import ArtifactCache, open_cache


def _open(settings) -> tuple[ArtifactCache, bool]:
    """The cache to work on and whether CACHE_ENABLED is on."""
    config = settings.cache_config()
    if not config.enabled and (config.root / "index.sqlite").is_file():
        config = dataclasses.replace(config, enabled=True)  # manage what earlier runs left
    return open_cache(config), settings.CACHE_ENABLED


def _stats(cache: ArtifactCache, enabled: bool) -> dict:
    info = cache.stats()
    lifetime = info.get("lifetime", {"hits": 0, "misses": 0, "hit_rate": 0.0, "by_kind": {},
                                     "by_level": {}, "corrupt": 0, "evictions": 0, "expired": 0})
    out = {
        "enabled": enabled,
        "dir": str(cache.root),
        "entries": info.get("entries", 0),
        "size_mb": info.get("size_mb", 0.0),
        "max_size_mb": info.get("max_size_mb"),
        "max_age_hours": round(cache.default_ttl_s / 3600, 3),
        **lifetime,
    }
    if cache.disk is not None:
        out["meta_entries"] = cache.disk.index.meta_count()
    if cache.redis is not None:
        out["redis"] = cache.redis.describe()
    for level in cache.shared:
        if level is not cache.redis:
            out.setdefault("shared", {})[level.name] = level.describe()
    return out


def _print_stats(out: dict) -> None:
    print(f"cache folder   {out['dir']} ({'enabled' if out['enabled'] else 'disabled'})")
    limit = f" of {out['max_size_mb']:.0f} MB" if out.get("max_size_mb") else ""
    print(f"entries        {out['entries']} ({out['size_mb']:.2f} MB{limit})")
    print(f"hits / misses  {out['hits']} / {out['misses']}  (hit rate {out['hit_rate']:.1%})")
    for kind, slot in sorted(out["by_kind"].items()):
        print(f"  {kind:<12} {slot['hits']} / {slot['misses']}  (hit rate {slot['hit_rate']:.1%})")
    print(f"dropped        {out['corrupt']} damaged, {out['expired']} expired, "
          f"{out['evictions']} evicted")
    if "redis" in out:
        redis = out["redis"]
        state = "up" if redis.get("available") else f"down ({redis.get('error', 'backing off')})"
        print(f"redis level    {redis['url']} prefix {redis['prefix']} {state}, "
              f"{redis.get('entries', '?')} entries")
    for name, level in out.get("shared", {}).items():
        state = "up" if level.get("available") else f"down ({level.get('error', 'backing off')})"
        print(f"{name + ' level':<14} {level.get('url')} {state}, {level.get('entries', '?')} entries")


def cache_command(args, settings) -> int:
    action = getattr(args, "action", "stats")
    as_json = bool(getattr(args, "json", False))
    folder = settings.path("CACHE_DIR")
    if not (folder / "index.sqlite").is_file():
        why = "does not exist" if not folder.exists() else "holds no cache (no index.sqlite)"
        print(f"error: cache folder {folder} (CACHE_DIR={settings.CACHE_DIR}) {why}; run from "
              "the worker's folder or set CACHE_DIR", file=sys.stderr)
        return 1
    cache, enabled = _open(settings)
    try:
        if action == "stats":
            out = _stats(cache, enabled)
            if as_json:
                print(json.dumps(out, indent=2, sort_keys=True))
            else:
                _print_stats(out)
            return 0
        if action == "cleanup":
            removed = cache.cleanup_expired()
            out = {"action": "cleanup", "removed": removed, "entries": cache.stats().get("entries", 0),
                   "size_mb": cache.get_size()}
            message = (f"{cache.root}: removed {removed} expired or stray files; "
                       f"{out['size_mb']:.2f} MB left")
        elif action == "clear":
            removed = cache.clear()
            out = {"action": "clear", "removed": removed, "entries": 0, "size_mb": cache.get_size()}
            message = f"cleared the cache at {cache.root}: removed {removed} files"
        else:
            print(f"error: unknown cache action {action!r} (stats, cleanup, clear)", file=sys.stderr)
            return 2
        print(json.dumps(out, indent=2, sort_keys=True) if as_json else message)
        return 0
    finally:
        cache.close()
