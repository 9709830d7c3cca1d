"""Plug-in registries: a table by name, filled by decorators, with no name taken twice.

    SOURCES = {}
    scene_kind = registrar(SOURCES, "scene kind")        # @scene_kind("image") class ...
    overlay = registrar(OVERLAYS, "overlay", lambda factory, z: (z, factory))   # @overlay("title", z=10)

The packages that hold plug-ins (generators/scenes, generators/overlays) import every
module of themselves with `load_modules(__name__, __path__)`, so a new plug-in is one
new module.
"""
from __future__ import annotations

import importlib
import pkgutil
from typing import Any, Callable, Iterable


def registrar(table: dict[str, Any], what: str,
              entry: Callable[..., Any] = lambda factory: factory) -> Callable[..., Callable]:
    """A decorator maker: `@made(name, *args)` stores entry(factory, *args) in table[name]."""
    def named(name: str, *args: Any, **kwargs: Any) -> Callable:
        def register(factory: Callable) -> Callable:
            if name in table:
                raise ValueError(f"{what} {name!r} is registered twice")
            table[name] = entry(factory, *args, **kwargs)
            return factory
        return register
    return named


def load_modules(package: str, path: Iterable[str]) -> None:
    """Import every module of a plug-in package (each registers itself)."""
    for module in pkgutil.iter_modules(path):
        importlib.import_module(f"{package}.{module.name}")
