"""Keeping the cache index usable: lock contention waited out, a damaged index replaced.

The index is derived data (every entry names a file under objects/ with its size and MD5),
so no fault in it may fail a job:

- Lock contention between processes ("database is locked" / "busy", also while the
  index is opened: the WAL switch, the schema, a WAL recovery after a killed process) is
  retried with growing, jittered pauses for up to LOCK_PATIENCE_S, on top of SQLite's own
  busy timeout.
- A damaged index (SQLITE_CORRUPT "database disk image is malformed", SQLITE_NOTADB
  "file is not a database", or a failed `PRAGMA quick_check` at the first open in a
  process) is moved aside to index.sqlite.damaged-<time> under a lock (one process
  repairs, the others find the fresh index), a fresh index is started, and intact
  objects are adopted back (size and MD5 measured anew) up to ADOPT_MAX_BYTES.
"""
from __future__ import annotations

import contextlib
import logging
import os
import random
import sqlite3
import time
from pathlib import Path
from typing import Callable, TypeVar

log = logging.getLogger("protovideo.cache")

T = TypeVar("T")

BUSY_TIMEOUT_S = 30.0      # SQLite's own wait for a lock, per statement
LOCK_PATIENCE_S = 120.0    # and how long this module keeps trying after SQLite gave up
ADOPT_MAX_BYTES = 2 << 30  # object bytes hashed anew after a repair (rows not salvaged); the rest re-made
ADOPT_MAX_S = 20.0
KEEP_DAMAGED = 2           # damaged index copies kept for a post-mortem

SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    key TEXT PRIMARY KEY, ext TEXT NOT NULL, kind TEXT NOT NULL, size INTEGER NOT NULL,
    md5 TEXT NOT NULL, created REAL NOT NULL, ttl_s REAL, atime REAL NOT NULL);
CREATE INDEX IF NOT EXISTS entries_atime ON entries(atime);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY, data TEXT NOT NULL, created REAL NOT NULL, ttl_s REAL);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""
TABLES = {"entries", "meta", "counters"}

_CORRUPT, _NOTADB = 11, 26


class IndexDamaged(sqlite3.DatabaseError):
    """The index file is not a sound SQLite database (found by a check, not by SQLite)."""


def is_lock_error(exc: BaseException) -> bool:
    if not isinstance(exc, sqlite3.OperationalError):
        return False
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def is_damage(exc: BaseException) -> bool:
    if isinstance(exc, IndexDamaged):
        return True
    if not isinstance(exc, sqlite3.DatabaseError):
        return False
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None and code & 0xFF in (_CORRUPT, _NOTADB):
        return True
    text = str(exc).lower()
    return "malformed" in text or "not a database" in text


def retry_locked(op: Callable[[], T], what: str, patience_s: float = LOCK_PATIENCE_S) -> T:
    """op(), again after a pause while it fails with a lock error, for up to patience_s."""
    deadline = time.monotonic() + patience_s
    pause, warned = 0.02, False
    while True:
        try:
            return op()
        except sqlite3.OperationalError as exc:
            if not is_lock_error(exc) or time.monotonic() >= deadline:
                raise
            if not warned and pause >= 0.5:
                log.info("cache: index busy (%s: %s); waiting for the other workers", what, exc)
                warned = True
            time.sleep(pause * (0.5 + random.random()))
            pause = min(pause * 2, 1.0)


def _has_schema(conn: sqlite3.Connection) -> bool:
    names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    return TABLES <= names


def open_connection(path: Path, check: bool) -> sqlite3.Connection:
    """A connection in WAL mode with the schema; `check` runs PRAGMA quick_check first.

    Every step only writes when it must (the WAL switch and the schema are read first),
    so opening an index other workers hold never needs their locks in the usual case.
    """
    path.parent.mkdir(parents=True, exist_ok=True)

    def connect() -> sqlite3.Connection:
        conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_S, isolation_level=None,
                               check_same_thread=False)
        try:
            conn.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
            if check:
                rows = conn.execute("PRAGMA quick_check").fetchall()
                if rows != [("ok",)]:
                    problems = "; ".join(str(r[0]) for r in rows[:3])
                    raise IndexDamaged(f"quick_check found: {problems}")
            if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            if not _has_schema(conn):
                conn.executescript(SCHEMA)
            return conn
        except BaseException:
            conn.close()
            raise

    return retry_locked(connect, f"opening {path}")


def move_aside(path: Path) -> Path:
    """Rename a damaged index (and its -wal/-shm) out of the way; returns the new name."""
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    target = path.with_name(f"{path.name}.damaged-{stamp}-{os.getpid()}")
    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            os.replace(f"{path}{suffix}", f"{target}{suffix}")
    old = sorted(path.parent.glob(f"{path.name}.damaged-*"), key=lambda p: p.stat().st_mtime)
    for stale in old[:-KEEP_DAMAGED * 3]:   # each copy has up to three files
        with contextlib.suppress(OSError):
            stale.unlink()
    return target


def adoptable_objects(objects: Path, temp_prefix: str):
    """(key, ext, path, size) of every published object file, newest first."""
    found = []
    for folder in objects.iterdir() if objects.is_dir() else ():
        if not folder.is_dir():
            continue
        for file in folder.iterdir():
            if file.name.startswith(temp_prefix) or not file.is_file():
                continue
            key, dot, ext = file.name.partition(".")
            with contextlib.suppress(FileNotFoundError):
                st = file.stat()
                if st.st_size > 0 and key[:2] == folder.name:
                    found.append((st.st_mtime, key, dot + ext, file, st.st_size))
    found.sort(reverse=True)
    return [(key, ext, file, size) for _mtime, key, ext, file, size in found]


def salvage(damaged: Path) -> tuple[dict[str, tuple], list[tuple], list[tuple]]:
    """What can still be read from a damaged index: entries by key, meta rows, counters.

    Each table is read on its own and row by row stops at the first error, so a torn
    page costs the rows behind it, not the rest.
    """
    entries: dict[str, tuple] = {}
    meta: list[tuple] = []
    counters: list[tuple] = []
    try:
        conn = sqlite3.connect(f"file:{damaged}?mode=ro", uri=True, timeout=1)
    except sqlite3.Error:
        return entries, meta, counters
    try:
        for sql, sink in (("SELECT key, ext, kind, size, md5, created, ttl_s, atime FROM entries",
                           lambda row: entries.__setitem__(row[0], row)),
                          ("SELECT key, data, created, ttl_s FROM meta", meta.append),
                          ("SELECT name, value FROM counters", counters.append)):
            try:
                for row in conn.execute(sql):
                    sink(row)
            except sqlite3.Error:
                continue
    finally:
        conn.close()
    return entries, meta, counters
