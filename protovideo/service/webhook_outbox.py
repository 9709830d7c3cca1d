"""Where pending webhook deliveries wait: a folder on disk, or Redis (JOB_SOURCE=redis).

A delivery is a JSON object: id, job_id, event, url, body (the exact JSON text
that is POSTed, so every try signs the same bytes), attempts, created_at and
next_at (unix seconds), last_error. Both outboxes survive a restart and are safe
with several worker and API processes delivering from the same outbox: a
delivery is claimed by one of them (atomic rename / a Lua script) for `lease`
seconds; a claim whose process died returns to the queue when its lease runs out.

    FileOutbox (WEBHOOK_DIR, default SPOOL_DIR/webhooks)
        pending/<next_at ms>-<id>.json   waiting (the name sorts by due time)
        sending/<name>                   claimed; the file's mtime is the claim time
        delivered/<id>.json              answered 2xx (pruned after KEEP_DAYS)
        failed/<id>.json                 given up (too old, or its URL is refused)
    RedisOutbox
        {prefix}:webhooks:due        sorted set id -> due time (a claim moves it to now+lease)
        {prefix}:webhooks:items      hash id -> delivery JSON
        {prefix}:webhooks:delivered, :failed   lists of the newest 1000 finished deliveries
"""
from __future__ import annotations

import json
import logging
import os
import time
import uuid
from pathlib import Path
from typing import Iterator

from protovideo.service.sources.base import write_json_atomic

log = logging.getLogger("protovideo.webhooks")

KEEP_DAYS = 7          # delivered/ records are pruned after this many days
KEEP_IN_REDIS = 1000   # finished deliveries kept in each Redis list


def new_delivery(job_id: str, event: str, url: str, body: str) -> dict:
    now = time.time()
    return {"id": uuid.uuid4().hex, "job_id": job_id, "event": event, "url": url, "body": body,
            "attempts": 0, "created_at": now, "next_at": now, "last_error": ""}


class FileOutbox:
    """Deliveries as files in a folder (see the module docstring)."""

    def __init__(self, folder: Path, lease: float = 120.0):
        self.root = Path(folder)
        self.lease = lease
        self.dirs = {name: self.root / name for name in ("pending", "sending", "delivered", "failed")}
        for path in self.dirs.values():
            path.mkdir(parents=True, exist_ok=True)
        self._last_prune = 0.0

    @staticmethod
    def _name(item: dict) -> str:
        return f"{int(item['next_at'] * 1000):013d}-{item['id']}.json"

    def add(self, item: dict) -> None:
        write_json_atomic(self.dirs["pending"] / self._name(item), item)

    def _files(self, folder: str) -> list[str]:
        try:
            return sorted(n for n in os.listdir(self.dirs[folder])
                          if n.endswith(".json") and not n.startswith("."))
        except FileNotFoundError:
            return []

    def claim_due(self, now: float | None = None) -> Iterator[tuple[dict, object]]:
        """Claim the deliveries that are due, oldest due first, one at a time."""
        now = time.time() if now is None else now
        self._recover(now)
        for name in self._files("pending"):
            try:
                due_ms = int(name.split("-", 1)[0])
            except ValueError:
                continue
            if due_ms > now * 1000:
                break                          # names sort by due time
            source, target = self.dirs["pending"] / name, self.dirs["sending"] / name
            try:
                os.utime(source)               # the claim time, carried over by the rename
                os.rename(source, target)
            except FileNotFoundError:          # another process took it
                continue
            try:
                item = json.loads(target.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                log.error("webhook outbox: unreadable delivery %s (%s); moved to failed/", name, exc)
                os.replace(target, self.dirs["failed"] / name)
                continue
            yield item, target

    def _recover(self, now: float) -> None:
        """Claims older than the lease belong to a process that died: queue them again."""
        for name in self._files("sending"):
            path = self.dirs["sending"] / name
            try:
                if now - path.stat().st_mtime > self.lease:
                    os.rename(path, self.dirs["pending"] / name)
                    log.warning("webhook delivery %s: its sender stopped; queued again", name)
            except FileNotFoundError:
                continue

    def retry(self, item: dict, handle: object) -> None:
        self.add(item)
        Path(handle).unlink(missing_ok=True)

    def delivered(self, item: dict, handle: object) -> None:
        write_json_atomic(self.dirs["delivered"] / f"{item['id']}.json", item)
        Path(handle).unlink(missing_ok=True)
        self._prune()

    def give_up(self, item: dict, handle: object) -> None:
        write_json_atomic(self.dirs["failed"] / f"{item['id']}.json", item)
        Path(handle).unlink(missing_ok=True)

    def _prune(self) -> None:
        now = time.time()
        if now - self._last_prune < 3600:
            return
        self._last_prune = now
        for name in self._files("delivered"):
            path = self.dirs["delivered"] / name
            try:
                if now - path.stat().st_mtime > KEEP_DAYS * 86400:
                    path.unlink()
            except FileNotFoundError:
                continue

    def pending(self) -> list[dict]:
        """Deliveries waiting or being sent (for status and tests)."""
        items = []
        for folder in ("pending", "sending"):
            for name in self._files(folder):
                try:
                    items.append(json.loads((self.dirs[folder] / name).read_text(encoding="utf-8")))
                except (OSError, ValueError):
                    continue
        return items

    def close(self) -> None:
        pass


CLAIM = """
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, 1)
if #ids == 0 then return false end
redis.call('ZADD', KEYS[1], ARGV[2], ids[1])
return {ids[1], redis.call('HGET', KEYS[2], ids[1])}
"""


class RedisOutbox:
    """Deliveries in Redis, shared by every machine of one queue (see the module docstring)."""

    def __init__(self, client, prefix: str, lease: float = 120.0):
        self.r = client
        self.due = f"{prefix}:webhooks:due"
        self.items = f"{prefix}:webhooks:items"
        self.done_list = f"{prefix}:webhooks:delivered"
        self.failed_list = f"{prefix}:webhooks:failed"
        self.lease = lease
        self._claim = self.r.register_script(CLAIM)

    def add(self, item: dict) -> None:
        with self.r.pipeline(transaction=True) as pipe:
            pipe.hset(self.items, item["id"], json.dumps(item))
            pipe.zadd(self.due, {item["id"]: item["next_at"]})
            pipe.execute()

    def claim_due(self, now: float | None = None) -> Iterator[tuple[dict, object]]:
        while True:
            now_s = time.time() if now is None else now
            found = self._claim(keys=[self.due, self.items], args=[now_s, now_s + self.lease])
            if not found:
                return
            delivery_id, text = found
            if text is None:                   # an id without its item: drop it
                self.r.zrem(self.due, delivery_id)
                continue
            yield json.loads(text), delivery_id

    def retry(self, item: dict, handle: object) -> None:
        self.add(item)

    def _finish(self, item: dict, to_list: str) -> None:
        with self.r.pipeline(transaction=True) as pipe:
            pipe.zrem(self.due, item["id"])
            pipe.hdel(self.items, item["id"])
            pipe.lpush(to_list, json.dumps(item))
            pipe.ltrim(to_list, 0, KEEP_IN_REDIS - 1)
            pipe.execute()

    def delivered(self, item: dict, handle: object) -> None:
        self._finish(item, self.done_list)

    def give_up(self, item: dict, handle: object) -> None:
        self._finish(item, self.failed_list)

    def pending(self) -> list[dict]:
        return [json.loads(v) for v in self.r.hvals(self.items)]

    def close(self) -> None:
        try:
            self.r.close()
        except Exception:   # noqa: BLE001 - closing never fails the caller
            pass


def open_outbox(settings, lease: float | None = None):
    """The outbox of these settings: Redis for JOB_SOURCE=redis, else WEBHOOK_DIR."""
    lease = lease if lease is not None else max(60.0, 3 * float(settings.WEBHOOK_TIMEOUT) + 30)
    if settings.JOB_SOURCE == "redis":
        import redis
        client = redis.Redis.from_url(settings.REDIS_URL, decode_responses=True,
                                      socket_timeout=30, socket_connect_timeout=10)
        return RedisOutbox(client, settings.REDIS_KEY_PREFIX or "protovideo", lease)
    folder = settings.path("WEBHOOK_DIR") if settings.WEBHOOK_DIR else \
        settings.path("SPOOL_DIR") / "webhooks"
    return FileOutbox(folder, lease)
