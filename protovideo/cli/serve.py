"""`serve` (the job API alone) and the API half of `run --serve`."""
from __future__ import annotations

import sys

from protovideo.runtime.logs import setup_logging


def serve_command(args, runtime) -> int:
    """The job API alone; its /health and /metrics read the process's runtime (installed)."""
    from protovideo.service.api.auth import ServeRefused
    from protovideo.service.api.server import ListenFailed, serve_forever
    settings = runtime.settings
    setup_logging(settings)
    try:
        return serve_forever(settings)
    except ServeRefused as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except ListenFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:   # e.g. the job source cannot be opened
        print(f"error: cannot start the job API: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


def start_api_beside_worker(settings):
    """The API on a thread for `run --serve`; None (and a message) when it cannot start."""
    from protovideo.service.api.auth import ServeRefused
    from protovideo.service.api.server import BackgroundServer
    try:
        server = BackgroundServer(settings)
    except ServeRefused as exc:
        print(f"error: {exc}", file=sys.stderr)
        return None
    if not server.start():
        print(f"error: the job API could not listen on {settings.API_HOST}:{settings.API_PORT} "
              "(see the log; is the port taken? set API_PORT)", file=sys.stderr)
        return None
    return server
