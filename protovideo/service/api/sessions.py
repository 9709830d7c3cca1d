"""Browser sessions after `POST /v1/login`, and the throttle on failed logins.

A login makes a random session id (secrets.token_urlsafe, 256 bits); the cookie carries that id
only, the server keeps it (as its SHA-256) with a fixed expiry, SESSION_TTL_S after the login
(no sliding: the dashboard asks for the token again after 12 hours). Logout deletes it here,
so the old cookie no longer opens anything.

    MemorySessions   in the API process (spool source): a restart or another API process
                     does not know them
    RedisSessions    with JOB_SOURCE=redis: `<REDIS_KEY_PREFIX>:session:<sha256>` with the
                     expiry as the key's TTL, so every API process on the same Redis agrees

LoginThrottle: per client address (as uvicorn sees it; behind a proxy, the proxy's
X-Forwarded-For from FORWARDED_ALLOW_IPS), at most LOGIN_FAILURES failed logins in
LOGIN_WINDOW_S; beyond that every login from that address answers 429 with Retry-After
until the oldest failure leaves the window. Kept in the API process.
"""
from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections import OrderedDict, deque
from typing import Callable

SESSION_TTL_S = 12 * 3600
MAX_SESSIONS = 10_000          # in memory; the oldest go first beyond this
LOGIN_FAILURES = 5
LOGIN_WINDOW_S = 60.0
MAX_THROTTLED_CLIENTS = 10_000


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("utf-8", "surrogatepass")).hexdigest()


def new_session_id() -> str:
    return secrets.token_urlsafe(32)


class MemorySessions:
    """Sessions in this process: {sha256(id): expiry on `clock`}."""

    blocking = False   # safe to call on the event loop

    def __init__(self, ttl_s: float = SESSION_TTL_S, clock: Callable[[], float] = time.monotonic,
                 cap: int = MAX_SESSIONS):
        self.ttl_s, self.clock, self.cap = ttl_s, clock, cap
        self._expiry: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def create(self) -> str:
        session_id = new_session_id()
        now = self.clock()
        with self._lock:
            for key in [k for k, until in self._expiry.items() if until <= now]:
                del self._expiry[key]
            while len(self._expiry) >= self.cap:
                self._expiry.popitem(last=False)
            self._expiry[_digest(session_id)] = now + self.ttl_s
        return session_id

    def valid(self, session_id: str) -> bool:
        key = _digest(session_id)
        with self._lock:
            until = self._expiry.get(key)
            if until is not None and until <= self.clock():
                del self._expiry[key]
                until = None
        return until is not None

    def end(self, session_id: str) -> None:
        with self._lock:
            self._expiry.pop(_digest(session_id), None)


class RedisSessions:
    """Sessions in Redis under the source's key prefix, shared by every API process."""

    blocking = True    # network calls: run them in a thread

    def __init__(self, client, prefix: str, ttl_s: float = SESSION_TTL_S):
        self.client, self.prefix, self.ttl_s = client, prefix, ttl_s

    def _key(self, session_id: str) -> str:
        return f"{self.prefix}:session:{_digest(session_id)}"

    def create(self) -> str:
        session_id = new_session_id()
        self.client.set(self._key(session_id), "1", ex=int(self.ttl_s), nx=True)
        return session_id

    def valid(self, session_id: str) -> bool:
        return bool(self.client.exists(self._key(session_id)))

    def end(self, session_id: str) -> None:
        self.client.delete(self._key(session_id))


def open_sessions(store) -> MemorySessions | RedisSessions:
    """Redis sessions in front of the Redis source, memory sessions otherwise."""
    from protovideo.service.sources.redis_store import RedisStore
    if isinstance(store, RedisStore):
        return RedisSessions(store.r, store.prefix)
    return MemorySessions()


class LoginThrottle:
    """At most `limit` failed logins per client address in `window_s`; then wait."""

    def __init__(self, limit: int = LOGIN_FAILURES, window_s: float = LOGIN_WINDOW_S,
                 clock: Callable[[], float] = time.monotonic):
        self.limit, self.window_s, self.clock = limit, window_s, clock
        self._failures: OrderedDict[str, deque] = OrderedDict()
        self._lock = threading.Lock()

    def _recent(self, client: str, now: float) -> deque:
        times = self._failures.get(client)
        if times is None:
            return deque()
        while times and times[0] <= now - self.window_s:
            times.popleft()
        if not times:
            del self._failures[client]
        return times

    def retry_after(self, client: str) -> float | None:
        """Seconds until `client` may try again, None when it may now."""
        now = self.clock()
        with self._lock:
            times = self._recent(client, now)
            if len(times) < self.limit:
                return None
            return max(times[0] + self.window_s - now, 0.001)

    def failed(self, client: str) -> None:
        now = self.clock()
        with self._lock:
            times = self._recent(client, now)
            times.append(now)
            self._failures[client] = times
            self._failures.move_to_end(client)
            while len(self._failures) > MAX_THROTTLED_CLIENTS:
                self._failures.popitem(last=False)

    def succeeded(self, client: str) -> None:
        with self._lock:
            self._failures.pop(client, None)
