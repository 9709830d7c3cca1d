"""Keeping the cache index usable: lock contention waited out, the schema, damage recognized.

The index is derived data (every entry names a file under objects/ whose name holds its
SHA-256), so no fault in it may fail a job:

- Lock contention between processes ("database is locked" / "busy", also while the
  index is opened: the WAL switch, the schema, a WAL recovery after a killed process) is
  retried with the shared backoff (jobmodel/backoff.py) for up to LOCK_PATIENCE_S, on top
  of SQLite's own busy timeout.
- A damaged index (SQLITE_CORRUPT "database disk image is malformed", SQLITE_NOTADB
  "file is not a database", or a failed `PRAGMA quick_check` at the first open in a
  process) is recognized here (`is_damage`) and replaced by cache/index_repair.py.
- An index of an older layout (PRAGMA user_version below SCHEMA_VERSION: objects named
  without their digest) is upgraded at its first open: its entries and meta are dropped
  (their files are swept as strays), its counters kept.
"""
from __future__ import annotations

import logging
import sqlite3
import time
from pathlib import Path
from typing import Callable, TypeVar

from jobmodel.backoff import Backoff

log = logging.getLogger("protovideo.cache")

T = TypeVar("T")

BUSY_TIMEOUT_S = 30.0      # SQLite's own wait for a lock, per statement
LOCK_PATIENCE_S = 120.0    # and how long this module keeps trying after SQLite gave up
LOCK_BACKOFF = Backoff(base=0.02, cap=1.0)

SCHEMA_VERSION = 2         # 2: objects named <key>.<sha256><ext>, digests in entries and meta
SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    key TEXT PRIMARY KEY, ext TEXT NOT NULL, kind TEXT NOT NULL, size INTEGER NOT NULL,
    digest TEXT NOT NULL, created REAL NOT NULL, ttl_s REAL, atime REAL NOT NULL);
CREATE INDEX IF NOT EXISTS entries_atime ON entries(atime);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY, data TEXT NOT NULL, digest TEXT NOT NULL, created REAL NOT NULL,
    ttl_s REAL);
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
    attempt, warned = 0, False
    while True:
        try:
            return op()
        except sqlite3.OperationalError as exc:
            if not is_lock_error(exc) or time.monotonic() >= deadline:
                raise
            attempt += 1
            if not warned and LOCK_BACKOFF.ceiling(attempt) >= 0.5:
                log.info("cache: index busy (%s: %s); waiting for the other workers", what, exc)
                warned = True
            time.sleep(LOCK_BACKOFF.delay(attempt))


def _has_schema(conn: sqlite3.Connection) -> bool:
    if conn.execute("PRAGMA user_version").fetchone()[0] < SCHEMA_VERSION:
        return False
    names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    return TABLES <= names


def _make_schema(conn: sqlite3.Connection) -> None:
    """Create the tables, or upgrade an index of an older layout (one process does it)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if version < SCHEMA_VERSION and names & {"entries", "meta"}:
            log.info("cache: upgrading the index to layout %d; files cached before are made "
                     "again when needed", SCHEMA_VERSION)
            conn.execute("DROP TABLE IF EXISTS entries")
            conn.execute("DROP TABLE IF EXISTS meta")
        for statement in SCHEMA.split(";"):
            if statement.strip():
                conn.execute(statement)
        conn.execute(f"PRAGMA user_version={max(version, SCHEMA_VERSION)}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


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
                _make_schema(conn)
            return conn
        except BaseException:
            conn.close()
            raise

    return retry_locked(connect, f"opening {path}")
