"""Running the job API on uvicorn: in the foreground (`serve`) or beside the worker (`run --serve`)."""
from __future__ import annotations

import logging
import sys
import threading

import uvicorn

from protovideo.service.api.app import create_app
from protovideo.service.api.auth import check_bind

log = logging.getLogger("protovideo.api")
API_SWITCH_INTERVAL_S = 0.001


class ListenFailed(OSError):
    """The server could not listen on API_HOST:API_PORT."""


def make_server(settings, mode: str, store=None) -> uvicorn.Server:
    """A uvicorn server for the app on API_HOST:API_PORT; BindRefused without a token off loopback."""
    check_bind(settings)
    app = create_app(settings, store=store)
    app.state.mode = mode
    config = uvicorn.Config(app, host=settings.API_HOST, port=settings.API_PORT,
                            log_config=None,  # the worker's logging setup handles uvicorn's loggers
                            access_log=settings.LOG_LEVEL == "debug",
                            server_header=False, timeout_graceful_shutdown=5)
    return uvicorn.Server(config)


def serve_forever(settings) -> int:
    """`serve`: the API in the foreground until SIGTERM/SIGINT."""
    server = make_server(settings, mode="serve")
    log.info("job API on http://%s:%d (auth %s)", settings.API_HOST, settings.API_PORT,
             "by API_TOKEN" if settings.API_TOKEN else "off, loopback only")
    from protovideo.service.webhooks import start_delivery, stop_delivery
    start_delivery(settings)          # webhooks of jobs cancelled here, and any left pending
    try:
        server.run()
    except SystemExit:   # uvicorn exits when it cannot bind
        pass
    finally:
        stop_delivery()
    if not server.started:
        raise ListenFailed(f"the job API could not listen on {settings.API_HOST}:{settings.API_PORT} "
                           "(is the port taken? set API_PORT; details in the log)")
    return 0


class BackgroundServer:
    """`run --serve`: the API on a thread beside the worker loop (which keeps the signals)."""

    def __init__(self, settings):
        self.server = make_server(settings, mode="run --serve")
        self.thread = threading.Thread(target=self.server.run, name="api-http", daemon=True)

    def start(self, timeout: float = 30.0) -> bool:
        # render threads run Python between their C calls; a request waiting for the GIL waits
        # up to one switch interval per hand-over (5 ms by default, several per request)
        sys.setswitchinterval(min(sys.getswitchinterval(), API_SWITCH_INTERVAL_S))
        self.thread.start()
        waited = 0.0
        while not self.server.started and self.thread.is_alive() and waited < timeout:
            self.thread.join(0.05)
            waited += 0.05
        return self.server.started

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
