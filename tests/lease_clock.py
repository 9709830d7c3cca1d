"""Time that a test moves on itself, so that lease and retry tests never sleep past a lease and
never fail on a loaded machine.

`ManualClock` stands still until the test moves it with `advance()`: the spool and Redis sources
read it (`clock=`) for leases and retry times, so however slowly the machine runs, no lease runs
out between two steps of a test. It starts an hour ahead of the wall clock, so that a file the
kernel stamps with the real time (a job just submitted) is never in its future. Redis leases are the server's idle times of pending entries:
`age_pending(source, seconds)` makes them that old (XCLAIM ... IDLE), as time would.
"""
from __future__ import annotations

import time

from protovideo.service.sources.base import PRIORITIES
from protovideo.service.sources.redis_streams import GROUP


class ManualClock:
    def __init__(self, ahead_s: float = 3600.0) -> None:
        self.now = time.time() + ahead_s

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def age_pending(source, seconds: float) -> int:
    """Every pending entry of a RedisSource's streams made `seconds` idle (its consumer kept, its
    delivery count unchanged); returns how many."""
    aged = 0
    for priority in PRIORITIES:
        stream = source._stream(priority)
        for entry in source.r.xpending_range(stream, GROUP, min="-", max="+", count=1000):
            source.r.xclaim(stream, GROUP, entry["consumer"], 0, [entry["message_id"]],
                            idle=int(seconds * 1000), justid=True)
            aged += 1
    return aged
