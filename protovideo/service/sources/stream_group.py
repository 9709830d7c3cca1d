"""Reading one Redis Streams consumer group over one stream per priority: the claim
mechanics that whole jobs (redis_streams.py) and piece tasks (piece_tasks.py) share.

A class that mixes this in has `r` (a client with decode_responses), `worker_name` (its
consumer), `lease_ms` (how long an entry may sit pending before another consumer takes it
over) and `_stream(priority)`; it says how a take-over is logged in `_taken_over(fields)`.
"""
from __future__ import annotations

import logging
import time

import redis

from protovideo.service.sources.base import PRIORITIES

GROUP = "workers"
PRUNE_EVERY_S = 300
log = logging.getLogger("protovideo.sources")


class StreamGroupReader:
    _groups_ready = False
    _last_prune = 0.0

    def _ensure_groups(self) -> None:
        if self._groups_ready:
            return
        for priority in PRIORITIES:
            try:
                self.r.xgroup_create(self._stream(priority), GROUP, id="0", mkstream=True)
            except redis.ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise
        self._groups_ready = True

    def _first_opened(self, priorities, open_entry):
        """The first entry that `open_entry(priority, stream, entry_id, fields)` makes something of
        (not None), the highest priority first; None when every stream is empty."""
        for priority in priorities:
            stream = self._stream(priority)
            while (entry := self._next_entry(stream)) is not None:
                opened = open_entry(priority, stream, *entry)
                if opened is not None:
                    return opened
        return None

    def _next_entry(self, stream: str):
        """(entry id, fields): one whose holder's lease ran out (taken over), else a new one; or None."""
        return self._take_over(stream) or self._read_new(stream)

    def _take_over(self, stream: str):
        reply = self.r.xautoclaim(stream, GROUP, self.worker_name, self.lease_ms, start_id="0-0", count=1)
        entries = [e for e in reply[1] if e and e[1]]
        if entries:
            self._taken_over(entries[0][0], entries[0][1])
        return entries[0] if entries else None

    def _taken_over(self, entry_id: str, fields: dict) -> None:
        log.warning("took over %s from a dead consumer (lease ran out)", entry_id)

    def _read_new(self, stream: str):
        for _name, entries in self.r.xreadgroup(GROUP, self.worker_name, {stream: ">"}, count=1) or []:
            for entry in entries:
                return entry
        return None

    def _prune_consumers(self) -> None:
        """Forget consumers (worker processes gone) that hold nothing and have been idle long."""
        if time.monotonic() - self._last_prune < PRUNE_EVERY_S:
            return
        self._last_prune = time.monotonic()
        idle_limit = max(self.lease_ms * 10, 3_600_000)
        for priority in PRIORITIES:
            for consumer in self.r.xinfo_consumers(self._stream(priority), GROUP):
                if consumer["pending"] == 0 and consumer["idle"] > idle_limit:
                    self.r.xgroup_delconsumer(self._stream(priority), GROUP, consumer["name"])
