"""One provider object per (name, settings) per process, created on first use."""
from __future__ import annotations

import importlib
import threading
from typing import Any


class ProviderTable:
    """Maps provider names to modules exposing `create_provider(settings)`."""

    def __init__(self, modules: dict[str, str]):
        self.modules = modules
        self._made: dict[tuple, Any] = {}
        self._lock = threading.Lock()

    def get(self, name: str, settings) -> Any:
        key = (name, settings)  # Settings is frozen: equal settings share a provider
        with self._lock:
            provider = self._made.get(key)
            if provider is None:
                module = importlib.import_module(self.modules[name])
                provider = module.create_provider(settings)
                self._made[key] = provider
            return provider
