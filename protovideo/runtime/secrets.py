"""Secrets kept out of logs, records, reports and command output.

    register_from_settings(settings)   # load_settings() does this: every secret value is known
    redact("... sk-abc ...")           # -> "... *** ..."
    scrub(record)                      # the same for every string inside dicts/lists
    SecretFilter()                     # a logging filter that redacts each record it passes

A secret is the value of a setting or environment variable whose name says so (API_KEY,
TOKEN, SECRET, PASSWORD, ...) and the password part of a URL setting (REDIS_URL=
redis://:pw@host). Values are remembered process-wide once registered; redaction is a plain
substring replacement, so a secret is hidden wherever it turns up (an exception text, a
server's error body echoing the key, a URL in a traceback).
"""
from __future__ import annotations

import logging
import os
import re
import threading
from typing import Any, Iterable, Mapping
from urllib.parse import unquote, urlsplit

MASK = "***"
MIN_LENGTH = 4  # shorter values would mask ordinary words (a 3-character secret is no secret)
SECRET_NAME = re.compile(r"(API_KEY|_KEY$|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL)", re.I)
# settings that are not secret although the pattern would say so
NOT_SECRET = {"REDIS_KEY_PREFIX"}

# LogRecord attributes that are not "extra" fields (also used by logs.JsonFormatter)
STANDARD_ATTRS = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}

_lock = threading.Lock()
_values: set[str] = set()
_pattern: re.Pattern | None = None


def is_secret_name(name: str) -> bool:
    return name not in NOT_SECRET and bool(SECRET_NAME.search(name))


def url_password(url: str) -> str:
    """The password inside a URL (redis://user:pw@host), or ''."""
    if "@" not in (url or ""):
        return ""
    try:
        password = urlsplit(url).password
    except ValueError:
        return ""
    return password or ""


def redact_url(url: str) -> str:
    """A URL with its password replaced by ***."""
    password = url_password(url)
    if not password:
        return url
    scheme, _, rest = url.partition("://")
    userinfo, _, hostpart = rest.rpartition("@")
    user = userinfo.split(":", 1)[0]
    return f"{scheme}://{user}:{MASK}@{hostpart}"


def register(values: Iterable[str]) -> None:
    """Remember secret values; every later redact() hides them."""
    global _pattern
    added = False
    with _lock:
        for value in values:
            value = (value or "").strip()
            if len(value) >= MIN_LENGTH and value not in _values:
                _values.add(value)
                added = True
        if added:
            # longest first, so a secret that contains another is hidden whole
            ordered = sorted(_values, key=len, reverse=True)
            _pattern = re.compile("|".join(re.escape(v) for v in ordered))


def secret_values(mapping: Mapping[str, Any]) -> list[str]:
    """The secret values in a mapping of setting/environment names to values."""
    found: list[str] = []
    for name, value in mapping.items():
        if not isinstance(value, str) or not value:
            continue
        if is_secret_name(name):
            found.append(value)
        password = url_password(value) if "://" in value else ""
        if password:
            found.append(password)
            if "%" in password:
                found.append(unquote(password))
    return found


def register_from_settings(settings: Any, environ: Mapping[str, str] | None = None) -> None:
    """Register the secrets of a Settings object (and of the environment's secret names)."""
    values = {name: getattr(settings, name) for name in getattr(settings, "__dataclass_fields__", {})}
    register(secret_values(values))
    register(secret_values(os.environ if environ is None else environ))


def redact(text: str) -> str:
    pattern = _pattern
    if pattern is None or not isinstance(text, str):
        return text
    return pattern.sub(MASK, text)


def scrub(value: Any) -> Any:
    """A copy of value (dicts, lists, strings) with every known secret redacted."""
    if _pattern is None:
        return value
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: scrub(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(scrub(v) for v in value)
    return value


class SecretFilter(logging.Filter):
    """Redacts known secrets from a record's message, exception text, stack and extras.

    Put it on handlers (a logger's filter only sees records logged on that very logger).
    The record is changed in place, so handlers after this one see the redacted text too.
    """

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        if _pattern is None:
            return True
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string: leave it to the handler
            return True
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        for key, value in list(vars(record).items()):
            if key not in STANDARD_ATTRS and isinstance(value, (str, dict, list, tuple)):
                setattr(record, key, scrub(value))
        return True
