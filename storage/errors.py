"""What goes wrong with a store, and whether trying again can help."""
from __future__ import annotations

from jobmodel.errors import JobFailed, TransientError


class StoreUnavailable(TransientError):
    """The store is down or refused, and kept doing so through every retry of one call.

    A TransientError: the worker's Retries middleware tries the job again later."""


class PublishConflict(JobFailed):
    """A name in the store already holds different bytes; it is never replaced."""


class StoreUnusable(ValueError):
    """A store setting that cannot work (found at start): `name` is the setting to fix.

    The message names the setting and never holds a secret."""

    def __init__(self, name: str, message: str):
        super().__init__(f"setting {name}: {message}")
        self.name = name
