"""One webhook POST with a whole-request deadline and a bounded answer.

    post(url, body, headers, timeout, allow_private) -> (status, note)

`timeout` covers the whole try: name lookup aside, connecting, sending, the status line
and headers, and the answer's body. Per-operation socket timeouts alone do not bound a
receiver that sends one header line a second; here a watchdog timer shuts the try's
socket down when its time is over (a duplicate of the socket's descriptor is kept for
this, so it works under TLS too), which ends any read or write blocked on it. The
answer's body is read up to ANSWER_CAP bytes and dropped; the status decides. Each try
has its own connection (no pool, no keep-alive), so a socket is never shared by two tries.

The address policy of generators.netpolicy applies to every connection: unless
`allow_private`, each address the host resolves to is checked and the connection goes to
the checked address itself (DNS that changes its answer cannot slip past).
"""
from __future__ import annotations

import socket
import threading
import time

import requests

from generators.netpolicy import USER_AGENT, GuardedHTTPConnection, guarded_adapter

ANSWER_CAP = 64 * 1024      # bytes of an answer's body read (and dropped)


class DeadlinePassed(Exception):
    """The try ran out of its whole-request time."""


class Deadline:
    """The sockets of one try, shut down by a watchdog timer once `seconds` have passed."""

    def __init__(self, seconds: float, allow_private: bool):
        self.seconds = seconds
        self.allow_private = allow_private
        self.ends = time.monotonic() + seconds
        self.expired = False
        self._watched: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self.expire)
        self._timer.daemon = True
        self._timer.start()

    def remaining(self) -> float:
        return self.ends - time.monotonic()

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            if self.expired:
                raise DeadlinePassed()
            self._watched.append(sock.dup())

    def expire(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self._watched:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        self._timer.cancel()
        with self._lock:
            for sock in self._watched:
                sock.close()
            self._watched.clear()


_current = threading.local()


class _DeadlineHTTPConnection(GuardedHTTPConnection):
    """Connects to checked addresses only, under the current try's deadline."""

    def allow_private(self) -> bool:
        return _current.deadline.allow_private

    def prepare(self, sock: socket.socket) -> float:
        deadline: Deadline = _current.deadline
        left = deadline.remaining()
        if left <= 0:
            raise DeadlinePassed()
        deadline.watch(sock)
        limit = self.timeout if isinstance(self.timeout, (int, float)) else left
        return max(0.001, min(limit, left))


def _session() -> requests.Session:
    session = requests.Session()
    session.trust_env = False   # no proxies or .netrc from the environment
    session.headers.update({"User-Agent": USER_AGENT, "Accept-Encoding": "identity",
                            "Connection": "close"})
    adapter = guarded_adapter(_DeadlineHTTPConnection, pool_connections=1, pool_maxsize=1, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def post(url: str, body: bytes, headers: dict, timeout: float,
         allow_private: bool) -> tuple[int, str]:
    """POST `body` once; (HTTP status, a note on the answer's body). Raises DeadlinePassed
    when the time ran out before the status and headers came, requests' exceptions for
    other failures, netpolicy.RefusedAddress for a refused host."""
    deadline = Deadline(timeout, allow_private)
    _current.deadline = deadline
    session = _session()
    try:
        try:
            response = session.post(url, data=body, headers=headers, timeout=(timeout, timeout),
                                    allow_redirects=False, stream=True)
        except requests.RequestException:
            if deadline.expired:
                raise DeadlinePassed() from None
            raise
        if deadline.expired:       # a socket shut mid-headers reads as their end: not an answer
            response.close()
            raise DeadlinePassed()
        note = _drain(response, deadline)
        return response.status_code, note
    finally:
        _current.deadline = None
        session.close()
        deadline.close()


def _drain(response: requests.Response, deadline: Deadline) -> str:
    """Read up to ANSWER_CAP bytes of the answer and drop them; what happened to the body."""
    read = 0
    try:
        while read < ANSWER_CAP:
            chunk = response.raw.read(min(16384, ANSWER_CAP - read))
            if not chunk:
                return f"{read} bytes of answer"
            read += len(chunk)
        return f"answer cut at {ANSWER_CAP} bytes"
    except Exception:   # noqa: BLE001 - the status already came; the body does not matter
        return "answer cut by the deadline" if deadline.expired else "answer broken off"
    finally:
        response.close()
