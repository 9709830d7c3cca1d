"""Files written whole or not at all, with the permissions the process umask gives.

`write_atomic(path, data)` writes to a hidden file beside `path` (`.<name>.tmp-<hex>`),
flushes it to disk and renames it into place, so a reader never sees half a file. The
hidden file is made with `os.open(..., 0o666)`, which the kernel narrows by the umask
exactly as it does for `open()`: with the usual umask 022 the file is 0644 (a web server
may serve it), under systemd's `UMask=0027` 0640. (`tempfile.mkstemp` would make it 0600
whatever the umask: the reason this helper exists.) Reading the umask is never needed,
so nothing here changes it, even for an instant, under other threads.

Every output and record of the worker is written through here: captions (`.srt`, `.vtt`),
reports, spool records, webhook outbox entries.
"""
from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

TEMP_MARK = ".tmp-"   # in the hidden name: `.<name>.tmp-<hex>` (the spool sweeps leftovers)


def write_atomic(path: Path | str, data: bytes | str, mtime: float | None = None, fsync: bool = True) -> Path:
    """Write `data` (text is UTF-8) to `path` atomically; returns the path. The file's mode
    is 0666 less the umask; `mtime` sets its modification time before it appears."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}{TEMP_MARK}{uuid.uuid4().hex[:8]}")
    payload = data.encode("utf-8") if isinstance(data, str) else data
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            if fsync:
                os.fsync(handle.fileno())
        if mtime is not None:
            os.utime(tmp, (mtime, mtime))
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def write_json_atomic(path: Path | str, value: Any, mtime: float | None = None, indent: int = 1,
                      default=None) -> Path:
    """`value` as JSON (UTF-8, not ASCII-escaped) written with write_atomic."""
    text = json.dumps(value, indent=indent, ensure_ascii=False, default=default)
    # a lone surrogate (JSON text allows "\\ud800", UTF-8 does not) is written as that escape
    # again, so the file reads back as the same value and a record never fails to be written
    return write_atomic(path, text.encode("utf-8", "backslashreplace"), mtime=mtime)
