"""Optional Redis level: artifacts and meta shared between machines (REDIS_URL).

Each artifact is one hash `<prefix>a:<key>` with fields ext, kind, size, digest (SHA-256 of
the bytes), created, ttl_s and data (the bytes), expiring with the entry's lifetime; meta is
a JSON string at `<prefix>m:<key>`. Artifacts larger than `max_item_bytes` stay local. Bytes
read back are checked against their size and digest before they are served (a damaged entry
is deleted and made again), and once more when the disk level publishes them. A Redis outage never fails a job: the
level logs once, switches itself off for `retry_after_s` and the disk level carries on.
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from .integrity import DigestMismatch, bytes_digest
from .outage import Outage

DEFAULT_PREFIX = "protovideo:cache:v2:"   # v2: SHA-256 digests (v1 held MD5s)


@dataclass(frozen=True)
class RemoteArtifact:
    ext: str
    kind: str
    digest: str
    created: float
    ttl_s: float | None
    data: bytes

    @classmethod
    def checked(cls, data: bytes, fields: Mapping[str, str]) -> "RemoteArtifact | None":
        """A shared level's entry as an artifact: `fields` ext, kind, digest, created, ttl_s, size;
        None when one is missing or bad, or the bytes do not match their size and digest."""
        try:
            ttl_text = fields.get("ttl_s", "")
            item = cls(fields["ext"], fields.get("kind", "other"), fields["digest"], float(fields["created"]),
                       float(ttl_text) if ttl_text else None, data)
            whole = len(data) == int(fields["size"]) and bytes_digest(data) == item.digest
        except (KeyError, ValueError):
            return None
        return item if whole else None


class RedisLevel:
    name = "redis"   # a shared level (cache/levels.py)

    def __init__(self, url: str, prefix: str = DEFAULT_PREFIX, max_item_bytes: int = 32 << 20,
                 default_ttl_s: float = 7 * 24 * 3600, log: logging.Logger | None = None,
                 retry_after_s: float = 30.0):
        import redis  # imported here so the cache works without a Redis client installed

        self.url = url
        self.prefix = prefix
        self.max_item_bytes = int(max_item_bytes)
        self.default_ttl_s = float(default_ttl_s)
        self.log = log or logging.getLogger("protovideo.cache")
        self._errors = (redis.RedisError, OSError)
        self._client = redis.Redis.from_url(url, socket_timeout=10, socket_connect_timeout=5,
                                            health_check_interval=30)
        self._outage = Outage("Redis level", self.log, retry_after_s)

    # -- availability -----------------------------------------------------
    @property
    def available(self) -> bool:
        return self._outage.up

    def _failed(self, what: str, exc: BaseException) -> None:
        self._outage.failed(what, exc)

    def _ex(self, created: float, ttl_s: float | None) -> int:
        lifetime = ttl_s if ttl_s is not None else self.default_ttl_s
        return int(created + lifetime - time.time())

    # -- artifacts --------------------------------------------------------
    def fetch(self, key: str) -> RemoteArtifact | None:
        if not self.available:
            return None
        name = self.prefix + "a:" + key
        try:
            raw = self._client.hgetall(name)
        except self._errors as exc:
            self._failed("read", exc)
            return None
        if not raw:
            return None
        try:
            fields = {k.decode(): v.decode() for k, v in raw.items() if k != b"data"}
        except UnicodeDecodeError:
            fields = {}
        item = RemoteArtifact.checked(raw.get(b"data", b""), fields)
        if item is None:
            self.log.warning("cache: dropping a damaged Redis entry %s", key)
            self.delete(key)
            return None
        return item

    def store(self, key: str, ext: str, kind: str, path: Path, digest: str, created: float,
              ttl_s: float | None) -> bool:
        """Copy an artifact file up; False when too large, expired or Redis is down."""
        if not self.available:
            return False
        size = path.stat().st_size
        seconds = self._ex(created, ttl_s)
        if size > self.max_item_bytes or seconds <= 0:
            return False
        data = path.read_bytes()
        if bytes_digest(data) != digest:
            return False  # the file changed under us; do not share it
        name = self.prefix + "a:" + key
        fields = {"ext": ext, "kind": kind, "size": len(data), "digest": digest,
                  "created": repr(created), "ttl_s": "" if ttl_s is None else repr(ttl_s),
                  "data": data}
        try:
            pipe = self._client.pipeline(transaction=True)
            pipe.delete(name)
            pipe.hset(name, mapping=fields)
            pipe.expire(name, seconds)
            pipe.execute()
        except self._errors as exc:
            self._failed("write", exc)
            return False
        return True

    def delete(self, key: str) -> None:
        try:
            self._client.delete(self.prefix + "a:" + key, self.prefix + "m:" + key)
        except self._errors as exc:
            self._failed("delete", exc)

    # -- meta -------------------------------------------------------------
    def get_meta(self, key: str) -> dict | None:
        if not self.available:
            return None
        try:
            raw = self._client.get(self.prefix + "m:" + key)
        except self._errors as exc:
            self._failed("read", exc)
            return None
        if raw is None:
            return None
        try:
            value = json.loads(raw)
        except ValueError:
            return None
        return value if isinstance(value, dict) else None

    def put_meta(self, key: str, meta: dict, created: float, ttl_s: float | None) -> None:
        if not self.available:
            return
        seconds = self._ex(created, ttl_s)
        if seconds <= 0:
            return
        try:
            self._client.set(self.prefix + "m:" + key, json.dumps(meta, sort_keys=True), ex=seconds)
        except self._errors as exc:
            self._failed("write", exc)

    # -- upkeep -----------------------------------------------------------
    def clear(self) -> int:
        """Delete every key under the prefix; returns how many."""
        removed = 0
        try:
            batch: list[bytes] = []
            for name in self._client.scan_iter(match=self.prefix + "*", count=500):
                batch.append(name)
                if len(batch) >= 500:
                    removed += self._client.delete(*batch)
                    batch = []
            if batch:
                removed += self._client.delete(*batch)
        except self._errors as exc:
            self._failed("clear", exc)
        return removed

    def describe(self) -> dict:
        info = {"url": _redact(self.url), "prefix": self.prefix, "available": self.available}
        try:
            count = sum(1 for _ in self._client.scan_iter(match=self.prefix + "a:*", count=500))
            info["entries"] = count
        except self._errors as exc:
            info["available"] = False
            info["error"] = str(exc)
        return info

    def close(self) -> None:
        try:
            self._client.close()
        except self._errors:
            pass


def copy_down(redis: RedisLevel, disk, key: str, ext: str, kind: str, max_age_s: float | None,
              default_ttl_s: float) -> Path | None:
    """A shared artifact copied to the disk level (its key lock held) and its path; None when
    Redis lacks it, it is too old, or its copy on disk does not hash to its digest."""
    item = redis.fetch(key)
    if item is None or item.ext != ext:
        return None
    now = time.time()
    lifetime = item.ttl_s if item.ttl_s is not None else default_ttl_s
    if now >= item.created + lifetime or (max_age_s is not None and now - item.created > max_age_s):
        return None
    with disk.temp_file(key, ext) as tmp:
        tmp.write_bytes(item.data)
        try:
            entry = disk.publish(key, ext, item.kind or kind, tmp, item.ttl_s,
                                 created=item.created, digest=item.digest)
        except DigestMismatch as exc:   # the bytes were damaged on their way to the disk
            redis.log.warning("cache: %s; making it again", exc)
            return None
    meta = redis.get_meta(key)
    if meta is not None:
        disk.index.put_meta(key, meta, item.created, item.ttl_s)
    return disk.path(entry)


def _redact(url: str) -> str:
    """The URL without a password."""
    if "@" not in url:
        return url
    scheme, _, rest = url.partition("://")
    return f"{scheme}://***@{rest.rpartition('@')[2]}"
