"""Logging for one-shot commands: everything to LOG_FILE, only warnings on the terminal."""
from __future__ import annotations


def setup(settings) -> None:
    from .logs import setup_logging
    setup_logging(settings, console_level="warning")
