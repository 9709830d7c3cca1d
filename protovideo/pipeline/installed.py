"""A slot for one process-wide object, for code that is not handed the runtime yet.

    WATCH = Installed(make_default)   # in the module that owns the kind of object
    WATCH.get()                       # the installed one (made by make_default the first time if none)
    WATCH.install(watch)              # Runtime.install
    WATCH.uninstall(watch)            # Runtime.close: none installed any more, if it was this one

The job API's routes read the memory watch and the metrics this way
(memory_watch.shared_watch, metrics.shared_metrics); everything else is handed the runtime.
"""
from __future__ import annotations

import threading
from typing import Callable, Generic, TypeVar

T = TypeVar("T")


class Installed(Generic[T]):
    def __init__(self, make_default: Callable[[], T]):
        self._make_default = make_default
        self._value: T | None = None
        self._lock = threading.Lock()

    def get(self) -> T:
        with self._lock:
            if self._value is None:
                self._value = self._make_default()
            return self._value

    def install(self, value: T) -> None:
        with self._lock:
            self._value = value

    def uninstall(self, value: T) -> None:
        with self._lock:
            if self._value is value:
                self._value = None
