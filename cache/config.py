"""CacheConfig: what an ArtifactCache is told (the entry point builds it from the settings:
Settings.cache_config(), in the process's Runtime; the cache knows no setting names)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class CacheConfig:
    root: Path                  # CACHE_DIR
    enabled: bool               # CACHE_ENABLED
    scratch: Path               # WORK_DIR/uncached: files handed out while the cache is off
    max_age_hours: float        # CACHE_MAX_AGE: an entry's default lifetime
    max_size_mb: float | None   # CACHE_MAX_SIZE_MB: the disk level's limit (least recently used evicted)
    protect_recent_s: float     # JOB_TIMEOUT: entries younger than a job may be in use; never evicted
    redis_url: str              # the shared Redis level (CACHE_REDIS=on), "" = none
    store_url: str = ""         # CACHE_STORE: the shared level on an object store, "" = none
