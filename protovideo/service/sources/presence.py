"""Which workers are alive: each worker's presence beat, kept where its job source keeps jobs.

    spool   SPOOL_DIR/workers/<name>.json   {"name", "host", "pid", "state", "jobs", ...,
                                             "last_heartbeat"}, rewritten on every beat; the
                                             file's mtime is the beat (files a day old go)
    redis   {prefix}:worker:<name>          the same JSON as a string, expiring PRESENCE_TTL_S
            {prefix}:workers                sorted set: name -> time of the last beat

The WorkerPresence middleware (service/middleware/presence.py) beats every few seconds
and when a job starts or ends; `workers(within_s)` is what `GET /v1/workers` lists.
"""
from __future__ import annotations

import json
import os
import re
import time
from datetime import datetime, timezone

from jobmodel.files import write_json_atomic

FORGET_AFTER_S = 24 * 3600      # presence files this old are removed when the list is read
PRESENCE_TTL_S = 24 * 3600
SAFE_NAME = re.compile(r"[^A-Za-z0-9_.-]+")


def file_name(name: str) -> str:
    """A worker name as a file name: letters, digits, '_', '-', '.' (others become '_')."""
    return (SAFE_NAME.sub("_", name).strip(".") or "worker")[:120]


def iso(at: float) -> str:
    return datetime.fromtimestamp(at, timezone.utc).isoformat(timespec="seconds")


def _entry(info: dict, name: str, at: float) -> dict:
    return {**info, "name": name, "last_heartbeat": iso(at), "age_s": round(max(0.0, time.time() - at), 1)}


class SpoolPresence:
    """A mixin of SpoolSource (needs `self.root`)."""

    @property
    def _workers_dir(self):
        return self.root / "workers"

    def worker_seen(self, name: str, info: dict) -> None:
        self._workers_dir.mkdir(exist_ok=True)
        write_json_atomic(self._workers_dir / f"{file_name(name)}.json", {**info, "name": name})

    def worker_gone(self, name: str) -> None:
        (self._workers_dir / f"{file_name(name)}.json").unlink(missing_ok=True)

    def workers(self, within_s: float) -> list[dict]:
        now = time.time()
        found = []
        try:
            entries = [e for e in os.scandir(self._workers_dir)
                       if e.name.endswith(".json") and not e.name.startswith(".")]
        except FileNotFoundError:
            return []
        for entry in entries:
            try:
                at = entry.stat().st_mtime
                if now - at > FORGET_AFTER_S:
                    os.unlink(entry.path)
                    continue
                if now - at > within_s:
                    continue
                with open(entry.path, "rb") as handle:
                    info = json.loads(handle.read(100_000))
            except (OSError, ValueError):
                continue   # removed or half-written meanwhile: the next look sees it
            if isinstance(info, dict):
                found.append(_entry(info, str(info.get("name") or entry.name[:-5]), at))
        return sorted(found, key=lambda w: w["age_s"])


class RedisPresence:
    """A mixin of RedisSource (needs `self.r` and `self.prefix`)."""

    def worker_seen(self, name: str, info: dict) -> None:
        with self.r.pipeline(transaction=False) as pipe:
            pipe.set(f"{self.prefix}:worker:{name}", json.dumps({**info, "name": name}), ex=PRESENCE_TTL_S)
            pipe.zadd(f"{self.prefix}:workers", {name: time.time()})
            pipe.execute()

    def worker_gone(self, name: str) -> None:
        with self.r.pipeline(transaction=False) as pipe:
            pipe.delete(f"{self.prefix}:worker:{name}")
            pipe.zrem(f"{self.prefix}:workers", name)
            pipe.execute()

    def workers(self, within_s: float) -> list[dict]:
        now = time.time()
        index = f"{self.prefix}:workers"
        self.r.zremrangebyscore(index, "-inf", now - FORGET_AFTER_S)
        rows = self.r.zrevrangebyscore(index, "+inf", now - within_s, withscores=True)
        if not rows:
            return []
        values = self.r.mget([f"{self.prefix}:worker:{name}" for name, _ in rows])
        found = []
        for (name, at), raw in zip(rows, values):
            try:
                info = json.loads(raw) if raw else None
            except ValueError:
                info = None
            if isinstance(info, dict):
                found.append(_entry(info, name, float(at)))
        return found
