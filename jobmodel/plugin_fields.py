"""What the fields plug-ins declare (jobmodel/catalogue.py) become: plug-in names, params, overlays.

A plug-in's params are read with the readers it declared (jobmodel/schema.py, jobmodel/spec.py)
into a tuple of (name, value) pairs (`Params`); an asset param becomes an AssetRef, checked like
every other asset (inside the job's folder or ASSET_ROOT, or an http(s) URL) and fetched later.
`named(kind)` reads a plug-in's name, with "did you mean" for a near miss.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from jobmodel import catalogue
from jobmodel.errors import JobInvalid
from jobmodel.fields import not_one_of

Params = tuple[tuple[str, Any], ...]
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
