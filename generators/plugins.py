"""Plug-in registries, one shape for every kind: a table of `Plugin` records by name.

    SOURCES = {}
    scene_kind = registrar(SOURCES, "scene_kind")       # @scene_kind("card", params={...}) class ...
    OVERLAYS = {}
    overlay = registrar(OVERLAYS, "overlay")           # @overlay("logo", z=30, params={...}) class ...

A plug-in module declares, in its decorator:
- its name (and `version`: bump it when its pixels change, so cached pieces are not reused),
- the job fields it reads (`params`: jobmodel.catalogue.Param, each with its reader from
  jobmodel.fields; `asset="image"` marks a file the pipeline fetches and hashes by content),
- facts about what it renders (`traits`, e.g. a transition's `spans`, an overlay's depth `z`,
  `whole_video` for a layer that needs the scene's start and the video's length).

Registering a plug-in of a kind jobs name also declares it in the job model's catalogue
(jobmodel/catalogue.py), which is where `parse_job` finds the names and fields: the
job model imports nothing of the renderer, and a new plug-in needs no edit there.
Cache keys take `Plugin.identity()` (name and version) and the content of every file.

The packages that hold plug-ins (generators/scenes, overlays, transitions) import every
module of themselves with `load_modules(__name__, __path__)`, so a new plug-in is one new
module; `load_all()` imports every package and marks the catalogue loaded.
"""
from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Callable, Iterable, Mapping

from jobmodel import catalogue
from jobmodel.catalogue import Entry, Param

PACKAGES = ("generators.scenes", "generators.overlays", "generators.transitions", "generators.motions")


@dataclass(frozen=True)
class Plugin:
    kind: str
    name: str
    make: Any                                   # the class or function that renders
    version: int = 1
    params: Mapping[str, Param] = field(default_factory=dict)
    traits: Mapping[str, Any] = field(default_factory=dict)
    entry: Entry | None = None                  # its job-model declaration (None: jobs do not name it)

    def trait(self, name: str, default: Any = None) -> Any:
        return self.traits.get(name, default)

    @property
    def assets(self) -> tuple[str, ...]:
        """The params whose values are files (fetched by the pipeline, keyed by their content)."""
        return tuple(n for n, p in self.params.items() if p.asset)

    def identity(self) -> str:
        return f"{self.name}@{self.version}"


def registrar(table: dict[str, Plugin], kind: str, declared: bool = True) -> Callable[..., Callable]:
    """A decorator maker: `@made(name, version=1, params=None, owns=(), needs=(), aliases=(),
    about="", **traits)` stores a Plugin in table[name] and, when `declared`, its Entry in the
    job model's catalogue."""
    def named(name: str, *, version: int = 1, params: Mapping[str, Param] | None = None,
              owns: tuple[str, ...] = (), needs: tuple[str, ...] = (), aliases: tuple[str, ...] = (),
              about: str = "", **traits: Any) -> Callable:
        def register(make: Any) -> Any:
            if name in table:
                raise ValueError(f"{kind.replace('_', ' ')} {name!r} is registered twice")
            text = about or (make.__doc__ or "").strip().split("\n")[0]
            entry = None
            if declared:
                entry = catalogue.declare(Entry(kind, name, version, dict(params or {}), owns, needs,
                                                aliases, traits, text))
            table[name] = Plugin(kind, name, make, version, MappingProxyType(dict(params or {})),
                                 MappingProxyType(dict(traits)), entry)
            return make
        return register
    return named


def unregister(table: dict[str, Plugin], name: str) -> None:
    """Remove a plug-in and its declaration (tests that register one of their own)."""
    plugin = table.pop(name, None)
    if plugin is not None and plugin.entry is not None:
        catalogue.withdraw(plugin.kind, name)


def find(table: dict[str, Plugin], name: str, what: str) -> Plugin:
    try:
        return table[name]
    except KeyError:
        raise ValueError(f"no {what} {name!r} (known: {sorted(table)})") from None


def load_modules(package: str, path: Iterable[str]) -> None:
    """Import every module of a plug-in package (each registers itself)."""
    for module in pkgutil.iter_modules(path):
        importlib.import_module(f"{package}.{module.name}")


def load_all() -> None:
    """Import every plug-in package, so the registries and the job model's catalogue are full."""
    for package in PACKAGES:
        importlib.import_module(package)
    catalogue.mark_loaded()
