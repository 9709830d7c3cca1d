"""The shared cache level on S3 (CACHE_STORE=s3://bucket/prefix): artifacts for every machine.

Narration, pictures and pieces are immutable and named by the content of what made them, so
workers on several machines can share them: an artifact is the object `<prefix>/a/<ab>/<key>`
(ab = the key's first two characters) with its extension, kind, size, digest, creation time and
lifetime as metadata; a meta dict is `<prefix>/m/<ab>/<key>.json`. The cache (cache/levels.py)
asks this level after its memory and disk levels miss and copies a hit down to disk; it hands
every artifact it makes here after the disk level has it.

Reading checks the bytes against the recorded size and SHA-256 (and the disk level again);
a damaged object is deleted, logged and answered as a miss. Writing is a conditional put
(`If-None-Match: *`): the first copy of a key stays, a second writer's put is refused by the
store and counts as done (the bytes are the same by construction). Artifacts larger than
`max_item_bytes` stay local. Lifetimes are checked by the cache on reading; a bucket lifecycle
rule on the prefix removes old objects from the store (docs/STORAGE.md). A store that fails
never fails a job: the level logs once, answers "not here" for `retry_after_s`, and the disk
level carries on.
"""
from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

from cache.integrity import bytes_digest
from cache.levels import shared_level
from cache.outage import Outage
from cache.redis_level import RemoteArtifact
from storage.address import StoreAddress, parse_store_url
from storage.s3_client import describe, is_missing, is_precondition_failed, make_client, store_errors

HOUR = 3600.0


class S3CacheLevel:
    name = "s3"

    def __init__(self, address: StoreAddress, client: Any = None, *, max_item_bytes: int = 512 << 20,
                 default_ttl_s: float = 168 * HOUR, log: logging.Logger | None = None,
                 retry_after_s: float = 30.0):
        self.address = address
        self._client = client
        self.max_item_bytes = int(max_item_bytes)
        self.default_ttl_s = float(default_ttl_s)
        self.log = log or logging.getLogger("protovideo.cache")
        self._outage = Outage(f"S3 level {address}", self.log, retry_after_s)
        self._errors = store_errors()

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = make_client(read_timeout=30.0)
        return self._client

    def _key(self, area: str, key: str, suffix: str = "") -> str:
        return self.address.key(area, key[:2], key + suffix)

    # -- availability -----------------------------------------------------
    @property
    def available(self) -> bool:
        return self._outage.up

    def _failed(self, what: str, exc: BaseException) -> None:
        self._outage.failed(what, describe(exc))

    # -- artifacts --------------------------------------------------------
    def fetch(self, key: str) -> RemoteArtifact | None:
        if not self.available:
            return None
        object_key = self._key("a", key)
        try:
            answer = self.client.get_object(Bucket=self.address.bucket, Key=object_key)
            if int(answer["ContentLength"]) > self.max_item_bytes:
                answer["Body"].close()
                return None
            data = answer["Body"].read()
        except self._errors as exc:
            if not is_missing(exc):
                self._failed("read", exc)
            return None
        meta = answer.get("Metadata", {})
        item = RemoteArtifact.checked(data, {**meta, "ttl_s": meta.get("ttl-s", "")})
        if item is None:
            self.log.warning("cache: dropping a damaged S3 object %s (size or digest does not match)",
                             self.address.url(object_key))
            self.delete(key)
            return None
        return item

    def store(self, key: str, ext: str, kind: str, path: Path, digest: str, created: float,
              ttl_s: float | None) -> bool:
        """Copy an artifact file up once; False when too large, expired, changed or the store fails."""
        if not self.available:
            return False
        lifetime = ttl_s if ttl_s is not None else self.default_ttl_s
        if path.stat().st_size > self.max_item_bytes or created + lifetime <= time.time():
            return False
        data = path.read_bytes()
        if bytes_digest(data) != digest:
            return False  # the file changed under us; do not share it
        metadata = {"ext": ext, "kind": kind, "size": str(len(data)), "digest": digest,
                    "created": repr(created), "ttl-s": "" if ttl_s is None else repr(ttl_s)}
        try:
            self.client.put_object(Bucket=self.address.bucket, Key=self._key("a", key), Body=data,
                                   Metadata=metadata, IfNoneMatch="*")
        except self._errors as exc:
            if is_precondition_failed(exc):
                return True   # another machine put it first
            self._failed("write", exc)
            return False
        return True

    def delete(self, key: str) -> None:
        try:
            for object_key in (self._key("a", key), self._key("m", key, ".json")):
                self.client.delete_object(Bucket=self.address.bucket, Key=object_key)
        except self._errors as exc:
            self._failed("delete", exc)

    # -- meta -------------------------------------------------------------
    def get_meta(self, key: str) -> dict | None:
        if not self.available:
            return None
        try:
            answer = self.client.get_object(Bucket=self.address.bucket, Key=self._key("m", key, ".json"))
            value = json.loads(answer["Body"].read())
        except self._errors as exc:
            if not is_missing(exc):
                self._failed("read", exc)
            return None
        except ValueError:
            return None
        return value if isinstance(value, dict) else None

    def put_meta(self, key: str, meta: dict, created: float, ttl_s: float | None) -> None:
        if not self.available:
            return
        body = json.dumps(meta, sort_keys=True).encode()
        try:
            self.client.put_object(Bucket=self.address.bucket, Key=self._key("m", key, ".json"),
                                   Body=body, ContentType="application/json")
        except self._errors as exc:
            self._failed("write", exc)

    # -- upkeep -----------------------------------------------------------
    def _objects(self, areas: tuple[str, ...] = ("a", "m")):
        """The keys of this level's objects (only its own areas: the bucket may hold more)."""
        base = f"{self.address.prefix}/" if self.address.prefix else ""
        paginator = self.client.get_paginator("list_objects_v2")
        for area in areas:
            for page in paginator.paginate(Bucket=self.address.bucket, Prefix=f"{base}{area}/"):
                yield from (item["Key"] for item in page.get("Contents", ()))

    def clear(self) -> int:
        """Delete every object under the prefix; returns how many."""
        removed = 0
        try:
            for object_key in list(self._objects()):
                self.client.delete_object(Bucket=self.address.bucket, Key=object_key)
                removed += 1
        except self._errors as exc:
            self._failed("clear", exc)
        return removed

    def describe(self) -> dict:
        info = {"url": self.address.url(), "available": self.available}
        try:
            info["entries"] = sum(1 for _ in self._objects(("a",)))
        except self._errors as exc:
            info["available"], info["error"] = False, describe(exc)
        return info

    def close(self) -> None:
        """Nothing to close (the client's connections are pooled and closed with it)."""


@shared_level("s3")
def s3_cache_level(url: str, config) -> S3CacheLevel:
    """The level for CACHE_STORE=url; config: the cache's CacheConfig (lifetimes)."""
    return S3CacheLevel(parse_store_url(url), default_ttl_s=config.max_age_hours * HOUR)
