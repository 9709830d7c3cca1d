"""Logging for commands: uses protovideo.logs.setup_logging when present."""
from __future__ import annotations

import logging


def setup(settings) -> None:
    try:
        from .logs import setup_logging
    except ImportError:
        logging.basicConfig(level=getattr(logging, settings.LOG_LEVEL.upper(), logging.INFO),
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        return
    setup_logging(settings)
