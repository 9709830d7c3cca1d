"""The plug-in catalogue: which names a job may use, and the fields each plug-in reads.

The job model is a leaf (it imports nothing of the project), yet its lists of names come
from the renderer's registries. So the registries' decorators (generators/plugins.py)
*declare* each plug-in here as it registers, and `parse_job` reads the declarations:

    kind           where a job names it                 e.g.
    scene_kind     scenes[i].type                       image, video, card
    transition     video.transition, scenes[i].transition   crossfade, cut, wipe_left
    overlay        overlays[i].type                     logo, progress_bar
    motion         scenes[i].motion                     zoom_in, none
    caption_style  subtitles.style                      phrase, karaoke, word

An entry lists the new fields the plug-in reads (`params`: each with its reader from
jobmodel.fields, its default, and `asset` when the value is a file the pipeline fetches
and hashes by content), the existing fields only its kind reads (`owns`) or needs
(`needs`), its other names (`aliases`) and `traits` (facts the job model checks with,
such as whether a transition spans frames). A new plug-in needs no edit here.

The catalogue is filled when the plug-in packages are imported
(`generators.plugins.load_all()`, which the entry points and the job checker call).
Parsing a job with an empty catalogue is a programming error, reported loudly
(`CatalogueNotLoaded`), never a job refused for a name that merely was not loaded.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Callable, Mapping

KINDS = ("scene_kind", "transition", "overlay", "motion", "caption_style")


class CatalogueNotLoaded(RuntimeError):
    """A job was parsed before the plug-ins declared themselves."""


@dataclass(frozen=True)
class Param:
    """One field a plug-in reads from the object it stands in (a scene, an overlay item)."""
    check: Callable[[Any, str], Any] | None = None   # a reader of jobmodel.fields: (value, path) -> value
    default: Any = None
    asset: str = ""            # image | video | audio: the value is a file (path or URL), fetched and hashed
    required: bool = False
    aliases: tuple[str, ...] = ()
    about: str = ""            # one line for the docs
    schema: Mapping[str, Any] | None = None   # its JSON Schema, when `check` declares none itself


@dataclass(frozen=True)
class Entry:
    kind: str
    name: str
    version: int = 1
    params: Mapping[str, Param] = field(default_factory=dict)
    owns: tuple[str, ...] = ()      # existing fields of its object that only this plug-in's kind reads
    needs: tuple[str, ...] = ()     # fields (own or owned) that must be given
    aliases: tuple[str, ...] = ()   # other names a job may use for it
    traits: Mapping[str, Any] = field(default_factory=dict)
    about: str = ""

    def trait(self, name: str, default: Any = None) -> Any:
        return self.traits.get(name, default)


_ENTRIES: dict[str, dict[str, Entry]] = {kind: {} for kind in KINDS}
_LOADED: list[bool] = [False]


def declare(entry: Entry) -> Entry:
    """Add a plug-in (its registry's decorator does this); a name or alias taken twice is an error."""
    if entry.kind not in _ENTRIES:
        raise ValueError(f"unknown plug-in kind {entry.kind!r} (known: {', '.join(KINDS)})")
    table = _ENTRIES[entry.kind]
    for name in (entry.name, *entry.aliases):
        if name in table or any(name in e.aliases for e in table.values()):
            raise ValueError(f"{entry.kind} {name!r} is declared twice")
    frozen = Entry(entry.kind, entry.name, entry.version, MappingProxyType(dict(entry.params)),
                   tuple(entry.owns), tuple(entry.needs), tuple(entry.aliases),
                   MappingProxyType(dict(entry.traits)), entry.about)
    table[entry.name] = frozen
    return frozen


def withdraw(kind: str, name: str) -> None:
    """Remove a declaration (tests that register a plug-in of their own)."""
    _ENTRIES[kind].pop(name, None)


def mark_loaded() -> None:
    """Every plug-in package has been imported (generators.plugins.load_all)."""
    _LOADED[0] = True


def is_loaded() -> bool:
    return _LOADED[0]


def entries(kind: str) -> tuple[Entry, ...]:
    """Every entry of a kind, in the order they were declared; CatalogueNotLoaded before loading."""
    if not _LOADED[0]:
        raise CatalogueNotLoaded(
            "the plug-in catalogue is not loaded, so no scene kind, transition, overlay, motion or "
            "caption style is known: call generators.plugins.load_all() before parsing jobs (the "
            "entry points and the job checker do)")
    return tuple(_ENTRIES[kind].values())


def names(kind: str) -> tuple[str, ...]:
    return tuple(e.name for e in entries(kind))


def resolve(kind: str, name: str) -> Entry | None:
    """The entry named `name` or having it as an alias; None when unknown."""
    for e in entries(kind):
        if name == e.name or name in e.aliases:
            return e
    return None


def spelled(kind: str) -> tuple[str, ...]:
    """Every name a job may write for this kind: names first, then aliases."""
    found = entries(kind)
    return tuple(e.name for e in found) + tuple(a for e in found for a in e.aliases)
