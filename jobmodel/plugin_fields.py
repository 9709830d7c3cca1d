"""Reading the fields plug-ins declare (jobmodel/catalogue.py): names, params, the job's overlays.

A plug-in's params are read with the readers it declared, into a tuple of (name, value)
pairs (`Params`); an asset param becomes an AssetRef, checked like every other asset
(inside the job's folder or ASSET_ROOT, or an http(s) URL) and fetched later.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from jobmodel import catalogue
from jobmodel.catalogue import Entry
from jobmodel.errors import JobInvalid
from jobmodel.fields import Fields, not_one_of, type_name
from jobmodel.problems import attempt, problem
from jobmodel.refs import AssetRef

Params = tuple[tuple[str, Any], ...]
Refs = Callable[[Any, str, str], AssetRef]
MAX_OVERLAYS = 16


def param(params: Params, name: str, default: Any = None) -> Any:
    for key, value in params:
        if key == name:
            return value
    return default


@dataclass(frozen=True)
class OverlaySpec:
    """One item of the job's `overlays` list: its type (an overlay plug-in) and its fields."""
    type: str
    params: Params = ()
    index: int = 0

    @property
    def path(self) -> str:
        return f"overlays[{self.index}]"

    def param(self, name: str, default: Any = None) -> Any:
        return param(self.params, name, default)


def named(kind: str) -> Callable[[Any, str], str]:
    """A reader of one plug-in name of `kind` (or an alias of one): gives the plug-in's name."""
    def check(value: Any, path: str) -> str:
        text = value.strip().lower() if isinstance(value, str) else None
        entry = catalogue.resolve(kind, text) if text else None
        if entry is None:
            raise JobInvalid(path, not_one_of(value, catalogue.spelled(kind)))
        return entry.name
    # read when the JSON Schema is made: the names the registries declared by then
    check.schema = lambda: {"type": "string", "enum": list(catalogue.spelled(kind))}
    return check


def field_names(entries: tuple[Entry, ...]) -> dict[str, tuple[str, ...]]:
    """Every param of these entries with its aliases, for Fields (so typos still get a hint)."""
    names: dict[str, tuple[str, ...]] = {}
    for entry in entries:
        for name, p in entry.params.items():
            names[name] = tuple(sorted({*names.get(name, ()), *p.aliases}))
    return names


def read_params(f: Fields, entry: Entry, refs: Refs) -> Params:
    """The entry's params from the object `f` reads, each checked, defaults filled in."""
    values = []
    for name, p in entry.params.items():
        if p.required and not f.has(name):
            problem(JobInvalid(f.at(name), f"is required for {entry.name}"))
        if p.asset:
            value = f.get(name, lambda v, at, kind=p.asset: refs(v, at, kind), p.default)
        elif p.check is not None:
            value = f.get(name, p.check, p.default)
        else:
            value = f.values[name][1] if f.has(name) else p.default
        values.append((name, value))
    return tuple(values)


def check_kind_fields(f: Fields, kind: str) -> None:
    """A scene's fields that other scene kinds own or declare, given to a scene of `kind`:
    refused, naming the kinds they belong to; fields `kind` needs and lacks: refused."""
    entry = catalogue.resolve("scene_kind", kind)
    mine = set(entry.params) | set(entry.owns) if entry else set()
    owners: dict[str, list[str]] = {}
    for other in catalogue.entries("scene_kind"):
        for name in (*other.params, *other.owns):
            owners.setdefault(name, []).append(other.name)
    for name, kinds in owners.items():
        if name not in mine and f.has(name):
            problem(JobInvalid(f.where(name), f"'{name}' is only for scenes of type {' or '.join(kinds)}; "
                                              f"this scene is of type {kind}"))
    for name in entry.needs if entry else ():
        if not f.has(name):
            problem(JobInvalid(f.at(name), f"a scene of type {kind} needs '{name}'"))


def overlays(value: Any, path: str, refs: Refs) -> tuple[OverlaySpec, ...]:
    """The job's `overlays` list: each item `{"type": <overlay plug-in>, ...its fields}`."""
    if not isinstance(value, list):
        raise JobInvalid(path, f"must be a list of overlays, got {type_name(value)}")
    if len(value) > MAX_OVERLAYS:
        raise JobInvalid(path, f"holds {len(value)} overlays; the limit is {MAX_OVERLAYS}")
    found = []
    for index, item in enumerate(value):
        spec = attempt(_overlay, item, f"{path}[{index}]", index, refs)
        if spec is not None:
            found.append(spec)
    return tuple(found)


def _overlay(item: Any, path: str, index: int, refs: Refs) -> OverlaySpec | None:
    if not isinstance(item, dict):
        raise JobInvalid(path, f"must be an object with a 'type', got {type_name(item)}")
    if "type" not in item:
        raise JobInvalid(f"{path}.type", f"is required: one of {', '.join(catalogue.spelled('overlay'))}")
    name = named("overlay")(item["type"], f"{path}.type")
    entry = catalogue.resolve("overlay", name)
    f = Fields(item, path, {"type": (), **field_names((entry,))})
    return OverlaySpec(name, read_params(f, entry, refs), index)
