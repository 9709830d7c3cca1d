"""Logging setup: a rotating LOG_FILE, a console handler, text or JSON lines.

    setup_logging(settings)                 # once at start; calling again is harmless
    setup_logging(settings, console=False)  # file only (e.g. a progress display owns the terminal)

LOG_FILE= (empty) writes no file: every line goes to stderr (the journal under systemd),
console=False notwithstanding. Every handler installed here redacts known secrets
(protovideo.runtime.secrets.SecretFilter) before a line is written.

Handlers go on the root logger, so every module's `logging.getLogger(__name__)`
ends up in LOG_FILE. PERF lines (logger "protovideo.perf", see
performance_optimizer.py) are written to LOG_FILE whatever LOG_LEVEL says,
so `tail -f worker.log | grep PERF` always works.

Lines stay text, one record a line, whatever a request put into a message: control
characters (NUL, CR, LF, ESC, ...) and lone surrogates are written as escapes (`\\x00`,
`\\n`, `\\ud800`); only a traceback keeps its own line breaks (its exception's message
is escaped too). JSON lines escape them as JSON does.
"""
from __future__ import annotations

import json
import logging
import logging.handlers
import re
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

from protovideo.runtime.secrets import STANDARD_ATTRS, SecretFilter, redact
from protovideo.runtime.settings import SettingsError

PERF_LOGGER = "protovideo.perf"
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(threadName)s]: %(message)s"
MAX_BYTES = 20 * 2**20
BACKUP_COUNT = 5

_MARK = "_protovideo_handler"
_lock = threading.Lock()
_configured: tuple | None = None


_UNSAFE = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\ud800-\udfff]")   # tab stays
_UNSAFE_BUT_LF = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_NAMED = {"\n": "\\n", "\r": "\\r"}


def _escape_char(match: re.Match) -> str:
    ch = match.group()
    return _NAMED.get(ch) or (f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}")


def escape_controls(text: str, keep_newlines: bool = False) -> str:
    """`text` with control characters and lone surrogates as backslash escapes (one line)."""
    return (_UNSAFE_BUT_LF if keep_newlines else _UNSAFE).sub(_escape_char, text)


def safe_traceback(exc_info) -> str:
    """The traceback as logging writes it, each exception's own message escaped onto one line."""
    top = traceback.TracebackException(*exc_info)
    messages, todo, seen = set(), [top], set()
    while todo:   # the exception, its causes and contexts, a group's members
        exc = todo.pop()
        if id(exc) not in seen:
            seen.add(id(exc))
            messages.update(exc.format_exception_only())
            todo.extend(e for e in (exc.__cause__, exc.__context__, *(exc.exceptions or ())) if e is not None)
    return "".join(escape_controls(chunk.rstrip("\n")) + "\n" if chunk in messages
                   else escape_controls(chunk, keep_newlines=True) for chunk in top.format()).rstrip("\n")


class TextFormatter(logging.Formatter):
    """TEXT_FORMAT lines with the message escaped (escape_controls) and safe tracebacks."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        return escape_controls(super().formatMessage(record))

    def formatException(self, ei) -> str:
        return safe_traceback(ei)

    def format(self, record: logging.LogRecord) -> str:
        if record.exc_info:   # SecretFilter may have formatted it the plain way: again, safely
            record.exc_text = redact(self.formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = escape_controls(record.exc_text, keep_newlines=True)
        if record.stack_info:
            record.stack_info = escape_controls(record.stack_info, keep_newlines=True)
        return super().format(record)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, message, plus any `extra=` fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
                  + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "thread": record.threadName,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in STANDARD_ATTRS and not key.startswith("_"):
                entry[key] = value if _jsonable(value) else repr(value)
        if record.exc_info or record.exc_text:
            # exc_text first: SecretFilter leaves the redacted traceback there
            entry["exception"] = record.exc_text or self.formatException(record.exc_info)
        # json escapes control characters; a lone surrogate could not even be written as UTF-8
        return _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", json.dumps(entry, ensure_ascii=False))


def _jsonable(value: Any) -> bool:
    try:
        json.dumps(value)
        return True
    except (TypeError, ValueError):
        return False


def _formatter(kind: str) -> logging.Formatter:
    if kind == "json":
        return JsonFormatter()
    return TextFormatter(TEXT_FORMAT)


def setup_logging(settings: Any, *, console: bool = True,
                  console_level: str | None = None) -> Path | None:
    """Install the file (rotating) and console handlers; returns the log file's path
    (None when LOG_FILE is empty: stderr only, at LOG_LEVEL).

    Idempotent: a second call with the same settings changes nothing; with other
    settings (another LOG_FILE, level or format) it replaces this module's
    handlers and leaves everybody else's alone.
    """
    global _configured
    log_file = settings.path("LOG_FILE") if str(settings.LOG_FILE).strip() else None
    if log_file is None:
        console, console_level = True, None  # stderr is the only place lines can go
    level = getattr(logging, str(settings.LOG_LEVEL).upper(), logging.INFO)
    fmt = str(settings.LOG_FORMAT)
    key = (str(log_file), level, fmt, console, console_level)
    root = logging.getLogger()
    with _lock:
        ours = [h for h in root.handlers if getattr(h, _MARK, False)]
        if _configured == key and ours:
            return log_file
        for handler in ours:
            root.removeHandler(handler)
            handler.close()
        if log_file is not None:
            try:
                log_file.parent.mkdir(parents=True, exist_ok=True)
                file_handler = logging.handlers.RotatingFileHandler(
                    log_file, maxBytes=MAX_BYTES, backupCount=BACKUP_COUNT, encoding="utf-8")
            except OSError as exc:   # e.g. a read-only folder under a hardened systemd unit
                raise SettingsError("LOG_FILE", f"cannot write {log_file} ({exc.strerror or exc}); "
                                    "set LOG_FILE= for stderr only, or a writable path") from None
            file_handler.setFormatter(_formatter(fmt))
            file_handler.addFilter(SecretFilter())
            setattr(file_handler, _MARK, True)
            root.addHandler(file_handler)
        if console:
            stream = logging.StreamHandler(sys.stderr)
            stream.setFormatter(_formatter(fmt))
            stream.addFilter(SecretFilter())
            stream.setLevel(getattr(logging, console_level.upper(), logging.WARNING)
                            if console_level else level)
            setattr(stream, _MARK, True)
            root.addHandler(stream)
        root.setLevel(level)
        # PERF lines are INFO and must reach LOG_FILE even at LOG_LEVEL=warning
        logging.getLogger(PERF_LOGGER).setLevel(min(level, logging.INFO))
        for noisy in ("urllib3", "PIL", "matplotlib", "filelock", "httpx", "httpcore"):
            if level <= logging.DEBUG:
                break
            logging.getLogger(noisy).setLevel(max(level, logging.WARNING))
        _configured = key
    return log_file


def teardown_logging() -> None:
    """Remove this module's handlers (tests, or before re-exec)."""
    global _configured
    root = logging.getLogger()
    with _lock:
        for handler in [h for h in root.handlers if getattr(h, _MARK, False)]:
            root.removeHandler(handler)
            handler.close()
        _configured = None
