"""sd_notify by hand: READY=1, STATUS=..., STOPPING=1 and watchdog pings to systemd.

    notifier = Notifier.from_environ()  # does nothing when NOTIFY_SOCKET is unset
    notifier.ready("taking jobs from spool")
    notifier.alive()                    # call often from the loop; sends WATCHDOG=1 at most
                                        # every WATCHDOG_USEC/4 (systemd restarts the service
                                        # when none arrives within WATCHDOG_USEC)

The protocol is one datagram of "KEY=VALUE" lines to the AF_UNIX socket named by
NOTIFY_SOCKET (a leading '@' means the abstract namespace); see sd_notify(3). Errors are
swallowed: a notification that cannot be sent must never stop the worker.
"""
from __future__ import annotations

import os
import socket
import threading
import time
from typing import Mapping


class Notifier:
    def __init__(self, address: str = "", watchdog_usec: int = 0):
        self.address = address
        self.watchdog_s = watchdog_usec / 1e6 if watchdog_usec > 0 else 0.0
        self._last_ping = float("-inf")
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> "Notifier":
        env = os.environ if environ is None else environ
        address = env.get("NOTIFY_SOCKET", "")
        usec = 0
        pid = env.get("WATCHDOG_PID", "")
        if not pid or pid == str(os.getpid()):  # the watchdog is meant for this process
            try:
                usec = int(env.get("WATCHDOG_USEC", "0") or 0)
            except ValueError:
                usec = 0
        return cls(address, usec)

    @property
    def enabled(self) -> bool:
        return bool(self.address)

    @property
    def ping_interval_s(self) -> float:
        """How long a caller may go between alive() calls (half the watchdog), or 0."""
        return self.watchdog_s / 2 if self.watchdog_s else 0.0

    def send(self, *lines: str) -> bool:
        """Send one notification; False when there is no socket or it failed."""
        if not self.address:
            return False
        target = self.address
        if target.startswith("@"):
            target = "\0" + target[1:]
        try:
            with self._lock:
                if self._sock is None:
                    self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
                self._sock.sendto("\n".join(lines).encode("utf-8", "replace"), target)
            return True
        except OSError:
            return False

    def ready(self, status: str = "") -> bool:
        lines = ["READY=1"] + ([f"STATUS={status}"] if status else [])
        if self.watchdog_s:
            lines.append("WATCHDOG=1")
            self._last_ping = time.monotonic()
        return self.send(*lines)

    def status(self, text: str) -> bool:
        return self.send(f"STATUS={text}")

    def stopping(self, status: str = "") -> bool:
        return self.send("STOPPING=1", *([f"STATUS={status}"] if status else []))

    def alive(self) -> bool:
        """The loop is alive: a WATCHDOG=1 ping when one is due (rate-limited)."""
        if not self.watchdog_s or not self.address:
            return False
        now = time.monotonic()
        if now - self._last_ping < self.watchdog_s / 4:
            return False
        self._last_ping = now
        return self.send("WATCHDOG=1")

    def close(self) -> None:
        with self._lock:
            if self._sock is not None:
                self._sock.close()
                self._sock = None
