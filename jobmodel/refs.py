"""Asset references in a job: an http(s) URL or a path kept inside allowed roots.

Checked when the job is parsed, so a bad reference is refused before any work
with the JSON path of its field. Fetching (and the network checks that need
DNS) happens later, in generators/fetch.py.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field as dc_field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from jobmodel.errors import JobInvalid


@dataclass(frozen=True)
class AssetRef:
    value: str            # as written in the job
    field: str            # JSON path, e.g. scenes[1].image
    kind: str             # image | video | audio
    url: str = ""         # http(s) URL, when remote
    path: Path | None = None  # resolved local path, when local
    roots: tuple[Path, ...] = dc_field(default=(), compare=False, repr=False)  # allowed folders

    @property
    def is_url(self) -> bool:
        return bool(self.url)


def inside(path: Path, roots: list[Path]) -> bool:
    return any(path == root or root in path.parents for root in roots)


def parse_asset_ref(value: Any, field: str, kind: str, roots: list[Path]) -> AssetRef:
    if not isinstance(value, str) or not value.strip():
        raise JobInvalid(field, "must be a URL or a relative path (a non-empty string)")
    text = value.strip()
    if len(text) > 4096 or "\x00" in text:
        raise JobInvalid(field, "is not a usable URL or path")
    try:
        parts = urlsplit(text)
        scheme = parts.scheme.lower()
        host, _port = (parts.hostname, parts.port) if scheme in ("http", "https") else ("", None)
    except ValueError as exc:  # bad IPv6 brackets, port out of range...
        raise JobInvalid(field, f"URL {text!r:.100} is malformed ({exc})") from None
    if scheme in ("http", "https"):
        if not host:
            raise JobInvalid(field, f"URL {text!r:.100} has no host")
        return AssetRef(text, field, kind, url=text, roots=tuple(roots))
    if scheme == "file":
        # file:///path and file://localhost/path name this machine; any other host is a
        # file on another machine (a network share), which the worker must not pretend to read
        if parts.netloc and parts.netloc.lower() not in ("localhost", "127.0.0.1", "[::1]"):
            raise JobInvalid(field, f"file URL {text!r:.100} names host {parts.netloc!r:.60}; "
                             "only local files are allowed (file:///path or a relative path)")
        raw_path = unquote(parts.path)
    elif scheme and len(scheme) > 1:  # one letter would be a Windows drive
        raise JobInvalid(field, f"scheme '{scheme}:' is not allowed; use http, https or a relative path")
    else:
        raw_path = text
    try:
        resolved = _resolve_local(raw_path, text, field, roots)
    except JobInvalid:
        raise
    except (OSError, ValueError) as exc:  # too long, undecodable, ...
        reason = getattr(exc, "strerror", None) or type(exc).__name__
        raise JobInvalid(field, f"{text!r:.100} is not a usable path ({reason})") from None
    return AssetRef(text, field, kind, path=resolved, roots=tuple(roots))


def _resolve_local(raw_path: str, text: str, field: str, roots: list[Path]) -> Path:
    """The real path of a local asset inside the roots, or JobInvalid."""
    candidate = Path(raw_path)
    if ".." in candidate.parts:
        raise JobInvalid(field, f"path {text!r:.100} must not contain '..'")
    if candidate.is_absolute():
        resolved = Path(os.path.realpath(candidate))
        if not inside(resolved, roots):
            raise JobInvalid(field, f"absolute path {text!r:.100} is outside the job's folder and ASSET_ROOT")
    else:
        resolved = None
        for root in roots:
            attempt = Path(os.path.realpath(root / candidate))
            if attempt.exists():
                resolved = attempt
                if not inside(attempt, roots):
                    raise JobInvalid(field, f"path {text!r:.100} leads outside the job's folder "
                                     "and ASSET_ROOT (symbolic link)")
                break
        if resolved is None:
            raise JobInvalid(field, f"file {text!r:.100} not found in the job's folder or ASSET_ROOT")
    if not resolved.exists():
        raise JobInvalid(field, f"file {text!r:.100} not found")
    if not inside(resolved, roots):
        raise JobInvalid(field, f"path {text!r:.100} leads outside the job's folder and ASSET_ROOT")
    if not resolved.is_file():
        raise JobInvalid(field, f"{text!r:.100} is not a file")
    return resolved
