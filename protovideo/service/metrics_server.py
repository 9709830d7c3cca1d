"""The /metrics and /health endpoint of a worker (METRICS_HOST:METRICS_PORT) on a background thread.

    server = serve_metrics(runtime)   # the entry point, once; runtime.close() stops it

/metrics is prometheus-client's own WSGI exposition (`make_wsgi_app`: content negotiation,
OpenMetrics, gzip, `name[]` filters) on its threading WSGI server; /health (and /healthz) beside
it answers the runtime's health as JSON, 503 while the worker takes no jobs. Anything else: 404.
"""
from __future__ import annotations

import json
import logging
import threading
from typing import Any, Callable, Iterable
from wsgiref.simple_server import WSGIRequestHandler, make_server

from prometheus_client import make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer

from protovideo.pipeline.metrics import Metrics
from protovideo.runtime.ports import bind_or_stop

log = logging.getLogger("protovideo.metrics")


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        log.debug("metrics %s - %s", self.address_string(), format % args)


def metrics_wsgi_app(metrics: Metrics) -> Callable:
    """/metrics (prometheus-client's app over the metrics' registry), /health, else 404."""
    exposition = make_wsgi_app(metrics.registry)

    def app(environ: dict, start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "/").rstrip("/") or "/"
        try:
            if path == "/metrics":
                return exposition(environ, start_response)
            if path in ("/health", "/healthz"):
                body = metrics.health()
                return _answer(start_response, "200 OK" if body["taking_jobs"] else "503 Service Unavailable",
                               "application/json", json.dumps(body).encode())
            return _answer(start_response, "404 Not Found", "text/plain; charset=utf-8",
                           b"not found: try /metrics or /health\n")
        except Exception:  # noqa: BLE001 - a scrape must never take the worker down
            log.exception("metrics endpoint failed on %s", path)
            return _answer(start_response, "500 Internal Server Error", "text/plain; charset=utf-8",
                           b"internal error\n")

    return app


def _answer(start_response: Callable, status: str, content_type: str, body: bytes) -> list[bytes]:
    start_response(status, [("Content-Type", content_type), ("Content-Length", str(len(body)))])
    return [body]


class MetricsServer:
    """The /metrics and /health endpoint on a background thread."""

    def __init__(self, metrics: Metrics, port: int, host: str = "127.0.0.1"):
        self.metrics = metrics
        # a taken port stops the start: SettingsError naming METRICS_PORT
        self._httpd = bind_or_stop("METRICS_PORT", host, int(port), lambda: make_server(
            host, int(port), metrics_wsgi_app(metrics), ThreadingWSGIServer, handler_class=_QuietHandler))
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
