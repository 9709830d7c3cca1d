"""Cache keys: MD5 over everything that changes an artifact, plus a format version.

`make_key(kind, **parts)` returns a `CacheKey`: a plain 32-character MD5 hex string
that also remembers its kind ("tts", "image", ...), so the cache can count hits
and misses per kind. Anything that changes the artifact must be one of the parts
(provider, model, voice, text, prompt, seed, size, steps, the reference voice's
own `file_md5`, ...); FORMAT_VERSION is mixed in so a change of the on-disk
format misses instead of serving stale files.

A part must be plain data (strings, numbers, lists, dicts, dataclasses of them). A
`Path` is refused: a file is keyed by its content (`file_md5`), never by its name, or a
changed file at the same path would be served stale; so is any other object, rather
than be keyed by its `str()`.
"""
from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

FORMAT_VERSION = 1

_KEY_RE = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
_EXT_RE = re.compile(r"^(\.[A-Za-z0-9]{1,12})?$")


class CacheKey(str):
    """An MD5 hex key that knows which kind of artifact it names."""

    kind: str

    def __new__(cls, value: str, kind: str = "") -> "CacheKey":
        obj = super().__new__(cls, value)
        obj.kind = kind
        return obj


def _plain(value: Any) -> Any:
    if isinstance(value, Path):
        raise TypeError(f"a cache key part may not be a path ({value.name}): key a file by its content, "
                        "file_md5(path)")
    if hasattr(value, "item") and callable(value.item) and not isinstance(value, (str, bytes)):
        return value.item()   # numpy scalars
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if hasattr(value, "__dataclass_fields__"):
        return {k: _plain(getattr(value, k)) for k in value.__dataclass_fields__}
    return value


def make_key(kind: str, **parts: Any) -> CacheKey:
    """MD5 hex of the kind, the format version and every part (order-independent)."""
    payload = json.dumps({"kind": kind, "v": FORMAT_VERSION, "parts": _plain(parts)},
                         sort_keys=True, ensure_ascii=False)
    return CacheKey(hashlib.md5(payload.encode("utf-8")).hexdigest(), kind)


def key_kind(key: str) -> str:
    """The kind a key was made for, or "other" for plain strings."""
    return getattr(key, "kind", "") or "other"


def check_key(key: str) -> str:
    """The key as a plain str; ValueError when it cannot be a file name."""
    if not isinstance(key, str) or not _KEY_RE.match(key):
        raise ValueError(f"cache key must be 1-128 letters, digits, '_' or '-', got {key!r}")
    return str(key)


def check_ext(ext: str) -> str:
    """'' or a short extension like '.wav'; ValueError otherwise."""
    if not isinstance(ext, str) or not _EXT_RE.match(ext):
        raise ValueError(f"cache file extension must look like '.wav', got {ext!r}")
    return ext


def file_md5(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()
