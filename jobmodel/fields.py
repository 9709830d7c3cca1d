"""Checked reading of JSON objects: each reader names the JSON path of what it refuses."""
from __future__ import annotations

import difflib
import json
import math
import re
from typing import Any, Callable

from jobmodel.errors import JobInvalid
from jobmodel.problems import attempt, problem


class Fields:
    """Reads the fields of one JSON object, resolving aliases, refusing unknowns."""

    def __init__(self, obj: Any, path: str, names: dict[str, tuple[str, ...]]):
        if not isinstance(obj, dict):
            raise JobInvalid(path or "$", f"must be an object, got {type_name(obj)}")
        self.path = path
        self.values: dict[str, tuple[str, Any]] = {}
        alias_of = {alias: name for name, aliases in names.items() for alias in (name, *aliases)}
        for key, value in obj.items():
            if not isinstance(key, str) or key not in alias_of:
                hint = difflib.get_close_matches(str(key), list(alias_of), n=1)
                extra = f"; did you mean '{hint[0]}'?" if hint else ""
                problem(JobInvalid(self.at(str(key)), f"unknown field{extra}"))
                continue
            name = alias_of[key]
            if name in self.values:
                problem(JobInvalid(self.at(key), f"given twice (also as '{self.values[name][0]}')"))
                continue
            self.values[name] = (key, value)

    def at(self, key: str) -> str:
        return child_path(self.path, key)

    def has(self, name: str) -> bool:
        return name in self.values and self.values[name][1] is not None

    def get(self, name: str, check: Callable[[Any, str], Any], default: Any = None) -> Any:
        if not self.has(name):
            return default
        key, value = self.values[name]
        return attempt(check, value, self.at(key), default=default)

    def where(self, name: str) -> str:
        return self.at(self.values[name][0]) if name in self.values else self.at(name)


def child_path(path: str, key: str | int) -> str:
    """The JSON path of `key` in the object (or index in the list) at `path` ("" = the job):
    `scenes[2].text`; odd keys quoted (ASCII-escaped, never empty): `scenes[0]["a b"]`."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,63}", key):
        return f"{path}[{json.dumps(key[:60], ensure_ascii=True)}]"
    return f"{path}.{key}" if path else key


SURROGATE = re.compile("[\ud800-\udfff]")   # only a lone one survives JSON decoding
SURROGATE_MESSAGE = ("holds a lone surrogate (\\u{code:04x}), which is not Unicode text "
                     "(UTF-8 cannot carry it)")


def surrogate_problem(value: str, path: str) -> JobInvalid | None:
    """JobInvalid naming `path` when the text holds a lone surrogate (JSON allows "\\ud800";
    no UTF-8 file, log or record can hold it), else None."""
    found = SURROGATE.search(value)
    if found is None:
        return None
    return JobInvalid(path or "$", SURROGATE_MESSAGE.format(code=ord(found.group())))


def type_name(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean",
            type(None): "null"}.get(type(value), "a number")


def string(max_len: int, allow_empty: bool = True) -> Callable[[Any, str], str]:
    def check(value: Any, path: str) -> str:
        if not isinstance(value, str):
            raise JobInvalid(path, f"must be a string, got {type_name(value)}")
        if "\x00" in value:
            raise JobInvalid(path, "must not contain NUL characters")
        if (bad := surrogate_problem(value, path)) is not None:
            raise bad
        if len(value) > max_len:
            raise JobInvalid(path, f"is {len(value)} characters long; the limit is {max_len}")
        if not allow_empty and not value.strip():
            raise JobInvalid(path, "must not be empty")
        return value
    return check


def number(lo: float, hi: float, integer: bool = False) -> Callable[[Any, str], Any]:
    def check(value: Any, path: str) -> Any:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise JobInvalid(path, f"must be a number, got {type_name(value)}")
        if isinstance(value, float) and not math.isfinite(value):
            raise JobInvalid(path, "must be a finite number")
        if integer and value != int(value):
            raise JobInvalid(path, "must be a whole number")
        if not lo <= value <= hi:
            raise JobInvalid(path, f"must be between {lo:g} and {hi:g}, got {value:g}")
        return int(value) if integer else float(value)
    return check


def choice(value: Any, allowed: tuple[str, ...] | list[str]) -> str | None:
    """The one rule for every enum of a job (priority, preset, position...), in the job model,
    the sources and every route: case and surrounding spaces do not count ("CRITICAL",
    " critical" -> "critical"); None when `value` is no spelling of an allowed name."""
    if not isinstance(value, str):
        return None
    name = value.strip().lower()
    return name if name in allowed else None


def one_of(*allowed: str) -> Callable[[Any, str], str]:
    def check(value: Any, path: str) -> str:
        name = choice(value, allowed)
        if name is None:
            raise JobInvalid(path, f"must be one of {', '.join(allowed)}, got {value!r:.60}")
        return name
    return check


def boolean(value: Any, path: str) -> bool:
    if not isinstance(value, bool):
        raise JobInvalid(path, f"must be true or false, got {type_name(value)}")
    return value


def http_url(max_len: int = 2048) -> Callable[[Any, str], str]:
    """An absolute http(s) URL with a host and no user name or password in it (syntax only;
    the address policy, which needs DNS, is checked where the URL is used)."""
    def check(value: Any, path: str) -> str:
        from urllib.parse import urlsplit
        text = string(max_len, allow_empty=False)(value, path).strip()
        if any(ch.isspace() or ord(ch) < 32 for ch in text):
            raise JobInvalid(path, "must be a URL without spaces or control characters")
        try:
            parts = urlsplit(text)
            scheme, host, _port = parts.scheme.lower(), parts.hostname, parts.port
        except ValueError as exc:
            raise JobInvalid(path, f"is not a valid URL ({exc})") from None
        if scheme not in ("http", "https"):
            raise JobInvalid(path, f"must be an http or https URL, got {text!r:.80}")
        if not host:
            raise JobInvalid(path, "the URL has no host")
        if parts.username or parts.password:
            raise JobInvalid(path, "the URL must not carry a user name or password")
        return text
    return check


def color(value: Any, path: str) -> str:
    from PIL import ImageColor
    text = string(40, allow_empty=False)(value, path)
    try:
        ImageColor.getrgb(text)
    except ValueError:
        raise JobInvalid(path, f"is not a color name or #hex value: {text!r}") from None
    return text
