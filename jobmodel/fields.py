"""Readers of JSON values: `reader(value, json_path)` gives the value or raises JobInvalid naming
the path; each declares its JSON Schema (`reader.schema`), which the job schema (jobmodel/schema.py)
publishes."""
from __future__ import annotations

import difflib
import json
import math
import re
from typing import Any, Callable

from jobmodel.errors import JobInvalid
from jobmodel.limits import LIMITS


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
    check.schema = {"type": "string", "maxLength": max_len, **({} if allow_empty else {"minLength": 1})}
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
    check.schema = {"type": "integer" if integer else "number", "minimum": lo, "maximum": hi}
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
    """One of `allowed` (fields.choice: any case, spaces around ignored); a near miss gets a
    "did you mean"."""
    def check(value: Any, path: str) -> str:
        name = choice(value, allowed)
        if name is None:
            raise JobInvalid(path, not_one_of(value, allowed))
        return name
    check.schema = {"type": "string", "enum": list(allowed)}
    return check


def not_one_of(value: Any, allowed: tuple[str, ...] | list[str]) -> str:
    """The message for a value that is none of `allowed`: the list, what came, and the nearest name."""
    message = f"must be one of {', '.join(allowed)}, got {value!r:.60}"
    return message + did_you_mean(value, allowed) if isinstance(value, str) else message


def did_you_mean(value: str, names) -> str:
    """"; did you mean 'x'?" for the name nearest `value` (case, '-', spaces set aside), or ""."""
    wanted = re.sub(r"[\s-]+", "_", value.strip().lower())[:64]
    plain = {re.sub(r"[\s-]+", "_", n.lower()): n for n in names}
    if wanted in plain:
        return f"; did you mean '{plain[wanted]}'?"
    hint = difflib.get_close_matches(wanted, list(plain), n=1, cutoff=0.6)
    return f"; did you mean '{plain[hint[0]]}'?" if hint else ""


def boolean(value: Any, path: str) -> bool:
    if not isinstance(value, bool):
        raise JobInvalid(path, f"must be true or false, got {type_name(value)}")
    return value


boolean.schema = {"type": "boolean"}


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
    check.schema = {"type": "string", "format": "uri", "pattern": "^\\s*[hH][tT][tT][pP][sS]?://",
                    "maxLength": max_len}
    return check


def color(value: Any, path: str) -> str:
    from PIL import ImageColor
    text = string(40, allow_empty=False)(value, path)
    try:
        ImageColor.getrgb(text)
    except ValueError:
        raise JobInvalid(path, f"is not a color name or #hex value: {text!r}") from None
    return text


def _color_schema() -> dict:
    from PIL import ImageColor
    return {"anyOf": [{"type": "string", "pattern": r"^\s*(#[0-9A-Fa-f]{3,8}|(rgb|rgba|hsl|hsv|hsb)\(.*\))\s*$",
                       "maxLength": 40},
                      {"type": "string", "enum": sorted(ImageColor.colormap)}],
            "description": "a colour name (white, red...), #RGB, #RRGGBB, #RRGGBBAA or rgb(...), as Pillow reads them"}


color.schema = _color_schema


# ---------------------------------------------------------------- readers of job fields
ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"


def job_id(value: Any, path: str) -> str:
    if not isinstance(value, str) or not re.match(ID_PATTERN, value):
        raise JobInvalid(path, "must be 1-64 characters of A-Z, a-z, 0-9, '_' or '-'")
    return value


job_id.schema = {"type": "string", "pattern": ID_PATTERN}


def even_size(value: Any, path: str) -> int:
    size = number(LIMITS.min_side, LIMITS.max_side, integer=True)(value, path)
    if size % 2:
        raise JobInvalid(path, f"must be an even number of pixels (H.264 4:2:0), got {size}")
    return size


even_size.schema = {"type": "integer", "minimum": LIMITS.min_side, "maximum": LIMITS.max_side, "multipleOf": 2}


def multiple_of_8(value: Any, path: str) -> int:
    size = number(64, 2048, integer=True)(value, path)
    if size % 8:
        raise JobInvalid(path, f"must be a multiple of 8, got {size}")
    return size


multiple_of_8.schema = {"type": "integer", "minimum": 64, "maximum": 2048, "multipleOf": 8}


def loudness(value: Any, path: str) -> float | str:
    if isinstance(value, str) and value.strip().lower() == "off":
        return "off"
    if isinstance(value, str):
        raise JobInvalid(path, f'must be a loudness in LUFS (-70 to -5) or "off", got {value!r:.40}')
    return number(-70, -5)(value, path)


loudness.schema = {"anyOf": [{"type": "number", "minimum": -70, "maximum": -5}, {"const": "off"}]}


def safe_output_filename(value: str, path: str) -> str:
    """Reduce an output filename to a safe basename ending in .mp4."""
    base = re.split(r"[\\/]", value.strip())[-1]
    stem = base[:-4] if base.lower().endswith(".mp4") else base
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._-")[:100]
    if not stem:
        raise JobInvalid(path, f"{value!r:.80} has no usable file name")
    return stem + ".mp4"
