"""A webhook receiver for tests: an http.server on 127.0.0.1 in a thread.

    with Receiver(statuses=[500, 500]) as rx:     # answers 500 twice, then 200
        ... rx.url ...
        rx.wait(3)                                # the first 3 requests
        verify(rx.requests[2], "secret")          # the signature, checked independently

Every request is kept (method, path, headers, body bytes, status answered, and `at`:
time.monotonic() when it came).
"""
from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Receiver:
    def __init__(self, statuses: list[int] | None = None, default: int = 200, path: str = "/hook"):
        self.statuses = list(statuses or [])
        self.default = default
        self.path = path
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with receiver.lock:
                    status = receiver.statuses.pop(0) if receiver.statuses else receiver.default
                    receiver.requests.append({"method": "POST", "path": self.path,
                                              "headers": {k.lower(): v for k, v in self.headers.items()},
                                              "body": body, "status": status,
                                              "at": time.monotonic()})
                answer = b'{"ok": true}' if status < 300 else b'{"error": "try later"}'
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}{path}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def __enter__(self) -> "Receiver":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def answer(self, default: int) -> None:
        with self.lock:
            self.default = default

    def count(self) -> int:
        with self.lock:
            return len(self.requests)

    def wait(self, n: int, timeout: float = 90.0) -> list[dict]:
        """The first n requests; fails the test (not a speed check) when they never come."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.requests) >= n:
                    return list(self.requests[:n])
            time.sleep(0.05)
        raise AssertionError(f"the receiver got {self.count()} of {n} requests in {timeout}s")


def verify(request: dict, secret: str) -> dict:
    """Check the X-ProtoVideo-Signature of a received request with hmac/hashlib (not the
    worker's code) and return the decoded body."""
    headers = request["headers"]
    timestamp = headers["x-protovideo-timestamp"]
    assert timestamp.isdigit(), timestamp
    expected = hmac.new(secret.encode(), timestamp.encode() + b"." + request["body"],
                        hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["x-protovideo-signature"], "sha256=" + expected), \
        "the signature does not verify"
    return json.loads(request["body"])
