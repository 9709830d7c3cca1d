"""Webhook receivers that misbehave, for tests and benchmarks: real HTTP servers on 127.0.0.1.

    DripReceiver()     reads the request, then sends the status line and one header line a
                       second, never ending the headers, until the client goes away
    HugeReceiver(n)    answers 200 with a body of n bytes (256 MiB by default), sent in 1 MiB
                       writes until done or the client goes away

Both keep, per connection, when the request came (`started`, time.monotonic()) and when the
client stopped listening (`ended`: the write that failed, or the end of the answer), and
`sent` (bytes of the answer written).
"""
from __future__ import annotations

import select
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MIB = 1024 * 1024


class _Misbehaving:
    def __init__(self, path: str = "/hook"):
        self.calls: list[dict] = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                call = {"started": time.monotonic(), "ended": None, "sent": 0}
                with owner.lock:
                    owner.calls.append(call)
                try:
                    owner.answer(self, call)
                except OSError:            # the client went away: what these receivers wait for
                    pass
                finally:
                    call["ended"] = time.monotonic()
                    self.close_connection = True

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}{path}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def answer(self, handler: BaseHTTPRequestHandler, call: dict) -> None:
        raise NotImplementedError

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.stopping.set()
        self.server.shutdown()
        self.server.server_close()

    def wait_call(self, n: int = 1, timeout: float = 90.0) -> dict:
        """The n-th request (1-based) once it has come."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.calls) >= n:
                    return self.calls[n - 1]
            time.sleep(0.05)
        raise AssertionError(f"{type(self).__name__} got {len(self.calls)} of {n} requests in {timeout}s")

    def wait_ended(self, call: dict, timeout: float = 120.0) -> float:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if call["ended"] is not None:
                return call["ended"]
            time.sleep(0.05)
        raise AssertionError(f"the client of {type(self).__name__} was still listening after {timeout}s")


class DripReceiver(_Misbehaving):
    def answer(self, handler, call) -> None:
        handler.wfile.write(b"HTTP/1.1 200 OK\r\n")
        n = 0
        while not self.stopping.is_set():
            n += 1
            line = f"X-Drip-{n}: {n}\r\n".encode()
            handler.wfile.write(line)
            handler.wfile.flush()
            call["sent"] += len(line)
            readable, _, _ = select.select([handler.connection], [], [], 1.0)
            if readable and not handler.connection.recv(1):
                return                             # the client hung up: seen at once


class HugeReceiver(_Misbehaving):
    def __init__(self, size: int = 256 * MIB, path: str = "/hook"):
        self.size = size
        super().__init__(path)

    def answer(self, handler, call) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "application/octet-stream")
        handler.send_header("Content-Length", str(self.size))
        handler.end_headers()
        chunk = b"\0" * MIB
        while call["sent"] < self.size and not self.stopping.is_set():
            part = chunk[:self.size - call["sent"]]
            handler.wfile.write(part)
            call["sent"] += len(part)
