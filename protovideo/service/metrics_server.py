"""The /metrics and /health endpoint of a worker (METRICS_HOST:METRICS_PORT) on a background thread."""
from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST

from protovideo.pipeline.metrics import Metrics, shared_metrics
from protovideo.runtime.ports import bind_or_stop

log = logging.getLogger("protovideo.metrics")
_SHARED_LOCK = threading.Lock()


class _Handler(BaseHTTPRequestHandler):
    server: "_Server"

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        path = self.path.split("?", 1)[0].rstrip("/") or "/"
        metrics = self.server.metrics
        try:
            if path == "/metrics":
                self._send(200, CONTENT_TYPE_LATEST, metrics.exposition())
            elif path in ("/health", "/healthz"):
                body = metrics.health()
                self._send(200 if body["taking_jobs"] else 503, "application/json",
                           json.dumps(body).encode())
            else:
                self._send(404, "text/plain; charset=utf-8", b"not found: try /metrics or /health\n")
        except Exception:  # noqa: BLE001 - a scrape must never take the worker down
            log.exception("metrics endpoint failed on %s", path)
            self._send(500, "text/plain; charset=utf-8", b"internal error\n")

    def _send(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        log.debug("metrics %s - %s", self.address_string(), format % args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    metrics: Metrics


class MetricsServer:
    """The /metrics and /health endpoint on a background thread."""

    def __init__(self, metrics: Metrics, port: int, host: str = "127.0.0.1"):
        self.metrics = metrics
        # a taken port stops the start: SettingsError naming METRICS_PORT
        self._httpd = bind_or_stop("METRICS_PORT", host, int(port),
                                   lambda: _Server((host, int(port)), _Handler))
        self._httpd.metrics = metrics
        self.host = host
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="metrics-http",
                                        kwargs={"poll_interval": 0.2}, daemon=True)
        self._thread.start()
        log.info("metrics endpoint on http://%s:%d/metrics and /health", host, self.port)

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"http://{host}:{self.port}"

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


_SERVER: MetricsServer | None = None


def start_metrics_server(settings: Any = None, *, port: int | None = None, host: str | None = None,
                         metrics: Metrics | None = None) -> MetricsServer | None:
    """Serve the process-wide metrics on METRICS_HOST:METRICS_PORT (or `host`, `port`);
    None when the port is 0/off. A port that cannot be bound raises SettingsError(METRICS_PORT).

    Idempotent: a second call returns the server already running. `port=0`
    given explicitly picks a free port (tests).
    """
    global _SERVER
    if port is None:
        port = int(getattr(settings, "METRICS_PORT", 0) or 0)
        if port == 0:
            return None
    if host is None:
        host = str(getattr(settings, "METRICS_HOST", "") or "127.0.0.1")
    with _SHARED_LOCK:
        if _SERVER is not None:
            return _SERVER
    server = MetricsServer(metrics or shared_metrics(), port, host)
    with _SHARED_LOCK:
        _SERVER = server
    return server


def stop_metrics_server() -> None:
    global _SERVER
    with _SHARED_LOCK:
        server, _SERVER = _SERVER, None
    if server is not None:
        server.stop()
