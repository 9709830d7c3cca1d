"""ArtifactCache: the memory, disk and optional Redis levels behind one small interface.

    cache = open_cache(config)                        # a CacheConfig (cache/config.py)
    path = cache.get_or_create(key, ".wav", produce)  # produce(tmp_path) writes the file
    cache.get_meta(key) / cache.put_meta(key, {...})
    cache.stats() -> {"hits", "misses", "hit_rate", ...}

Lookups go memory (verified records) -> disk (size + SHA-256 checked) -> the shared levels
(Redis, the CACHE_STORE level: cache/levels.py) -> produce.
A key is made by one thread in one process at a time (a file lock per key); the others
wait and then find the entry. Lifetimes: CACHE_MAX_AGE hours by default, `ttl_hours=`
per entry when it is made, `max_age_hours=` per lookup (an older entry is made again).
Size: CACHE_MAX_SIZE_MB, least recently used entries evicted first; entries used within
`protect_recent_s` (default JOB_TIMEOUT) are kept because a running job may hold them.

CACHE_ENABLED=false: nothing is stored; get_or_create makes a fresh scratch file under
WORK_DIR/uncached every time. The caller owns those files: delete them with
`cache.release(path)` (a no-op for cached files) or all at once with `cache.close()`;
`cleanup_expired()` also removes scratch files left behind by dead processes.

Cache trouble never fails a job. A damaged object (wrong size or SHA-256) is a miss:
dropped with a warning, counted as `corrupt`, made again. The index repairs itself (lock
contention waited out, a damaged index replaced: cache/index_repair.py); when the disk
level still cannot be used (a read-only or full disk, a folder without permission) the
cache object logs one warning and carries on like CACHE_ENABLED=false for the rest of its
life (one job): artifacts are made into scratch files. A full disk during a cache write
leaves no entry: the temp file is dropped, or handed to the job as a scratch file when it
is complete.
"""
from __future__ import annotations

import logging
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Callable, Sequence

from .config import CacheConfig
from .disk import DiskLevel
from .index import Entry
from .keys import check_ext, check_key, key_kind
from .levels import SharedLevel, from_shared, open_levels, share
from .memory import MemoryLevel
from .meta import get_meta, put_meta
from .scratch import ScratchFiles
from .stats import cache_stats
from .trouble import CACHE_TROUBLE, ProducerFailed, guarded
from .upkeep import cleanup_expired, clear_all

log = logging.getLogger("protovideo.cache")

HOUR = 3600.0

class ArtifactCache:
    def __init__(self, root: Path, enabled: bool = True, scratch: Path | None = None, *,
                 max_age_hours: float, max_size_mb: float | None = None,
                 redis_url: str = "", redis_prefix: str | None = None,
                 redis_max_item_mb: float = 32.0, memory_items: int = 4096,
                 protect_recent_s: float, shared_levels: Sequence[SharedLevel] = ()):
        self.root = Path(root)
        self.enabled = bool(enabled)
        self.scratch = Path(scratch or Path(tempfile.gettempdir()) / "protovideo-uncached")
        self.default_ttl_s = float(max_age_hours) * HOUR
        self.max_bytes = int(max_size_mb * 2**20) if max_size_mb else None
        self.protect_recent_s = float(protect_recent_s)
        self.memory = MemoryLevel(memory_items)
        self._guard = threading.Lock()
        self._session: Counter[str] = Counter()
        self.scratch_files = ScratchFiles(self.scratch)
        self.disk: DiskLevel | None = None
        self.redis = None
        self.shared: list[SharedLevel] = []   # Redis first, then the others, asked in order
        self._copied: dict[str, str] = {}     # key -> the shared level contains(shared=True) copied it from
        self.down = ""   # why the disk level is not used any more ('' = it is)
        if not self.enabled:
            return
        try:
            self.disk = DiskLevel(self.root, self.memory)
        except CACHE_TROUBLE as exc:
            self._give_up("opening the cache", exc)
            return
        if redis_url:
            from .redis_level import DEFAULT_PREFIX, RedisLevel
            self.redis = RedisLevel(redis_url, redis_prefix or DEFAULT_PREFIX,
                                    int(redis_max_item_mb * 2**20), self.default_ttl_s, log)
        self.shared = ([self.redis] if self.redis else []) + list(shared_levels)

    # -- counting ---------------------------------------------------------
    def _count(self, outcome: str, kind: str, level: str = "") -> dict[str, int]:
        """Count a hit or miss in this session and (when enabled) in the persisted totals."""
        names = {outcome: 1, f"{outcome}.kind.{kind}": 1}
        if level:
            names[f"{outcome}.level.{level}"] = 1
        with self._guard:
            self._session.update(names)
        return names

    def _note(self, name: str, n: int = 1) -> None:
        with self._guard:
            self._session[name] += n

    # -- trouble ----------------------------------------------------------
    def _give_up(self, what: str, exc: BaseException) -> None:
        """Stop using the disk level for the rest of this object's life, with one warning."""
        with self._guard:
            first = not self.down
            self.down = self.down or f"{what}: {type(exc).__name__}: {exc}"
            self._session["unavailable"] += 1
        if first:
            log.warning("cache: %s at %s failed (%s: %s); this job goes on without the cache",
                        what, self.root, type(exc).__name__, exc)

    @property
    def usable(self) -> bool:
        """True while cached files are read and written (enabled and not given up)."""
        return self.enabled and self.disk is not None and not self.down

    # -- lookups ----------------------------------------------------------
    def _ttl_s(self, ttl_hours: float | None) -> float | None:
        if ttl_hours is None:
            return None
        if not ttl_hours > 0:
            raise ValueError(f"ttl_hours must be greater than 0, got {ttl_hours!r}")
        return float(ttl_hours) * HOUR

    def _problem(self, entry: Entry, ext: str, max_age_s: float | None, now: float) -> str:
        """'' when the entry can be served, else why not."""
        if entry.ext != ext:
            return "ext"
        if now >= entry.expires_at(self.default_ttl_s):
            return "expired"
        if max_age_s is not None and entry.age_s(now) > max_age_s:
            return "too_old"
        return self.disk.verify(entry)

    def _serve(self, key: str, ext: str, max_age_s: float | None, repair: bool) -> Path | None:
        """The verified file for key, or None; with repair (key lock held) drop a bad entry."""
        entry = self.disk.find(key)
        if entry is None:
            return None
        now = time.time()
        problem = self._problem(entry, ext, max_age_s, now)
        if not problem:
            return self.disk.path(entry)
        if repair:
            counters = {}
            if problem in ("missing", "size", "checksum"):
                log.warning("cache: entry %s%s is damaged (%s); dropping and making it again",
                            key, entry.ext, problem)
                counters = {"corrupt": 1}
            elif problem == "expired":
                counters = {"expired": 1}
            for name in counters:
                self._note(name)
            self.disk.remove(entry, counters)
        return None

    def _hit(self, key: str, kind: str, level: str) -> None:
        names = self._count("hits", kind, level)
        self.disk.index.touch(key, time.time(), names)

    # -- the main interface -----------------------------------------------
    def get_or_create(self, key: str, ext: str, produce: Callable[[Path], None], *,
                      ttl_hours: float | None = None, max_age_hours: float | None = None) -> Path:
        """A complete, verified file for `key`; `produce(tmp_path)` writes it on a miss.

        ttl_hours: lifetime of an entry made now (default CACHE_MAX_AGE).
        max_age_hours: serve an existing entry only if it is at most this old.
        Exceptions from produce propagate; nothing half-written is ever kept.
        """
        kind = key_kind(key)
        key, ext = check_key(key), check_ext(ext)
        ttl_s = self._ttl_s(ttl_hours)
        max_age_s = self._ttl_s(max_age_hours)
        if self.usable:
            try:
                path = self._cached(key, ext, kind, guarded(produce), ttl_s, max_age_s)
            except ProducerFailed as failed:
                raise failed.error from None
            except CACHE_TROUBLE as exc:
                self._give_up(f"making {kind} artifact {key}", exc)
            else:
                self._safely("keeping the size limit", lambda: self._enforce_limit(keep={key}))
                return path
        path = self.scratch_files.make(kind, ext, produce)
        self._count("misses", kind)
        return path

    def _safely(self, what: str, op: Callable[[], object]) -> None:
        """Upkeep that may fail without consequence for the job (logged once)."""
        try:
            op()
        except CACHE_TROUBLE as exc:
            self._give_up(what, exc)

    def _cached(self, key: str, ext: str, kind: str, produce: Callable[[Path], None],
                ttl_s: float | None, max_age_s: float | None) -> Path:
        path = self._serve(key, ext, max_age_s, repair=False)
        if path is not None:
            self._safely("counting a hit", lambda: self._hit(key, kind, "disk"))
            return path
        with self.disk.key_lock(key):
            path = self._serve(key, ext, max_age_s, repair=True)
            if path is not None:  # another thread or process made it while we waited
                self._safely("counting a hit", lambda: self._hit(key, kind, "disk"))
                return path
            path, level = from_shared(self, key, ext, kind, max_age_s)
            if path is not None:
                self._safely("counting a hit", lambda: self._hit(key, kind, level))
                return path
            with self.disk.temp_file(key, ext) as tmp:
                produce(tmp)
                if not tmp.is_file():
                    raise RuntimeError(f"cache: the producer of {kind} artifact {key} wrote no file")
                try:
                    entry = self.disk.publish(key, ext, kind, tmp, ttl_s,
                                              counters=self._count("misses", kind))
                except CACHE_TROUBLE as exc:  # e.g. the disk filled up: keep the work, not an entry
                    self._give_up(f"storing {kind} artifact {key}", exc)
                    return self.scratch_files.adopt(tmp, kind, ext)
            share(self, key, ext, kind, entry, ttl_s)
        return self.disk.path(entry)

    def get(self, key: str, ext: str, *, max_age_hours: float | None = None) -> Path | None:
        """The cached file for key, or None (counted as a miss); never produces."""
        kind = key_kind(key)
        key, ext = check_key(key), check_ext(ext)
        max_age_s = self._ttl_s(max_age_hours)
        path, level = None, "disk"
        if self.usable:
            try:
                path = self._serve(key, ext, max_age_s, repair=False)
                if path is None:
                    with self.disk.key_lock(key):
                        path = self._serve(key, ext, max_age_s, repair=True)
                        if path is None:
                            path, level = from_shared(self, key, ext, kind, max_age_s)
            except CACHE_TROUBLE as exc:
                self._give_up(f"looking up {kind} artifact {key}", exc)
                path = None
        with self._guard:
            level = self._copied.pop(key, level)   # counted where contains(shared=True) found it
        if path is None:
            names = self._count("misses", kind)
            if self.usable:
                self._safely("counting a miss", lambda: self.disk.index.count(names))
            return None
        self._safely("counting a hit", lambda: self._hit(key, kind, level))
        return path

    def put(self, key: str, ext: str, source: Path, *, ttl_hours: float | None = None) -> Path:
        """Store a copy of an existing file under key (replacing any entry); returns its path."""
        kind = key_kind(key)
        key, ext = check_key(key), check_ext(ext)
        ttl_s = self._ttl_s(ttl_hours)
        source = Path(source)
        if not self.usable:
            return source

        def copy(tmp: Path) -> None:
            with open(source, "rb") as src, open(tmp, "wb") as dst:
                while block := src.read(1 << 20):
                    dst.write(block)

        try:
            with self.disk.key_lock(key):
                self.disk.remove_key(key)
                entry = self.disk.write(key, ext, kind, copy, ttl_s)
                share(self, key, ext, kind, entry, ttl_s)
        except CACHE_TROUBLE as exc:
            self._give_up(f"storing {kind} artifact {key}", exc)
            return source
        self._safely("keeping the size limit", lambda: self._enforce_limit(keep={key}))
        return self.disk.path(entry)

    def contains(self, key: str, ext: str, *, shared: bool = False) -> bool:
        """True when a servable entry is on disk (not counted, not touched). With `shared`, one
        that a shared level (CACHE_STORE, Redis) holds is copied down first, and the next get
        counts its hit for that level: a caller deciding what to make (a batch of pictures)
        makes nothing another machine made."""
        if not self.usable:
            return False
        try:
            key, ext = check_key(key), check_ext(ext)
            if self._serve(key, ext, None, repair=False) is not None:
                return True
            if not shared or not self.shared:
                return False
            with self.disk.key_lock(key):
                path, level = from_shared(self, key, ext, key_kind(key), None)
            if path is not None:
                with self._guard:
                    self._copied[key] = level
            return path is not None
        except CACHE_TROUBLE as exc:
            self._give_up("looking up an artifact", exc)
            return False

    # -- meta -------------------------------------------------------------
    def get_meta(self, key: str) -> dict | None:
        """The meta dict stored under key, or None (memory, then disk, then Redis)."""
        return get_meta(self, key)

    def put_meta(self, key: str, meta: dict, *, ttl_hours: float | None = None) -> None:
        """Store a small JSON-able dict under key (safe to call inside produce)."""
        put_meta(self, key, meta, ttl_hours)

    # -- upkeep -----------------------------------------------------------
    def invalidate(self, key: str) -> bool:
        """Remove key's artifact and meta from every level; True when something was there."""
        key = check_key(key)
        if not self.usable:
            self.memory.drop_key(key)
            return False
        with self.disk.key_lock(key):
            removed = self.disk.remove_key(key)
            self.memory.drop_key(key)
            for level in self.shared:
                level.delete(key)
        return removed

    def _enforce_limit(self, keep: set[str]) -> int:
        if self.max_bytes is None:
            return 0
        evicted = self.disk.evict(self.max_bytes, keep, time.time() - self.protect_recent_s)
        if evicted:
            self._note("evictions", evicted)
            log.info("cache: evicted %d least recently used entries (limit %.0f MB)",
                     evicted, self.max_bytes / 2**20)
        return evicted

    def cleanup_expired(self) -> int:
        """Drop expired entries and meta, stale temp/orphan files and old scratch files.

        Returns how many artifact files were removed (entries + stray files).
        """
        return cleanup_expired(self)

    def clear(self, shared: bool = True) -> int:
        """Remove every entry (and, with shared=True, the Redis level's); counters stay."""
        return clear_all(self, shared)

    def get_size(self) -> float:
        """Size of the disk level in MB."""
        if not self.enabled or self.disk is None:
            return 0.0
        return round(self.disk.size_bytes() / 2**20, 3)

    # -- statistics -------------------------------------------------------
    def counts(self) -> dict[str, int]:
        """A snapshot of this object's raw counters, for stats(since=...)."""
        with self._guard:
            return dict(self._session)

    def stats(self, since: dict[str, int] | None = None) -> dict:
        """hits, misses and hit_rate of this cache object (since `counts()` snapshot `since`);
        see cache/stats.py:cache_stats for every field."""
        with self._guard:
            session = Counter(self._session)
        if since:
            session.subtract(Counter(since))
        return cache_stats(self, session)

    # -- scratch files (CACHE_ENABLED=false) ------------------------------
    def release(self, path: Path) -> None:
        """Delete a scratch file this cache handed out (no-op for cached files)."""
        self.scratch_files.release(path)

    def close(self) -> None:
        """Delete this object's scratch files and close connections (the object stays usable)."""
        self.scratch_files.discard_mine()
        if self.disk is not None:
            self.disk.index.close()
        for level in self.shared:
            level.close()

    def __enter__(self) -> "ArtifactCache":
        return self

    def __exit__(self, *exc) -> None:
        self.close()



def open_cache(config: CacheConfig) -> ArtifactCache:
    """The cache a CacheConfig describes (the Redis level only with a redis_url, the level of
    its store_url: cache/levels.py). Settings are
    taken too, through their cache_config(), for callers not yet handed the runtime's config."""
    if not isinstance(config, CacheConfig):
        config = config.cache_config()
    return ArtifactCache(config.root, enabled=config.enabled, scratch=config.scratch,
                         max_age_hours=config.max_age_hours, max_size_mb=config.max_size_mb,
                         redis_url=config.redis_url, protect_recent_s=config.protect_recent_s,
                         shared_levels=open_levels(config) if config.enabled else ())
