"""The /metrics and /health endpoint of a worker (METRICS_HOST:METRICS_PORT) on a background thread.

    server = serve_metrics(runtime)   # the entry point, once; runtime.close() stops it
"""
from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST

from protovideo.pipeline.metrics import Metrics
from protovideo.runtime.ports import bind_or_stop

log = logging.getLogger("protovideo.metrics")


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


def serve_metrics(runtime: Any) -> MetricsServer | None:
    """Serve the runtime's metrics on METRICS_HOST:METRICS_PORT until runtime.close(); None
    when METRICS_PORT=0 (off). A port that cannot be bound raises SettingsError(METRICS_PORT).
    The entry point calls it once per process (a second call gives the server running)."""
    settings = runtime.settings
    if runtime.metrics_server is None and settings.METRICS_PORT:
        runtime.metrics_server = MetricsServer(runtime.metrics, settings.METRICS_PORT,
                                               settings.METRICS_HOST)
    return runtime.metrics_server
