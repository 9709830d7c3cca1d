"""The disk level's index: one SQLite database (WAL) shared by every process on the folder.

Tables:
  entries(key, ext, kind, size, md5, created, ttl_s, atime)  one row per artifact file
  meta(key, data, created, ttl_s)                            small JSON dictionaries
  counters(name, value)                                      hits, misses, ... (persist)

SQLite rather than diskcache's key-value API because the cache needs ordered
queries over its own files (least recently used first, total size, expired rows)
in one transaction with the counters. ttl_s NULL means "the default lifetime"
(CACHE_MAX_AGE at the time of the check), so changing the setting applies to
existing entries; a per-entry override is stored in seconds.
"""
from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    key TEXT PRIMARY KEY, ext TEXT NOT NULL, kind TEXT NOT NULL, size INTEGER NOT NULL,
    md5 TEXT NOT NULL, created REAL NOT NULL, ttl_s REAL, atime REAL NOT NULL);
CREATE INDEX IF NOT EXISTS entries_atime ON entries(atime);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY, data TEXT NOT NULL, created REAL NOT NULL, ttl_s REAL);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


@dataclass(frozen=True)
class Entry:
    key: str
    ext: str
    kind: str
    size: int
    md5: str
    created: float
    ttl_s: float | None
    atime: float

    def expires_at(self, default_ttl_s: float) -> float:
        return self.created + (self.ttl_s if self.ttl_s is not None else default_ttl_s)

    def age_s(self, now: float | None = None) -> float:
        return (time.time() if now is None else now) - self.created


class Index:
    def __init__(self, path: Path):
        self.path = Path(path)
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        self._pid = 0
        self._connect()

    # -- connection -------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        if self._conn is None or self._pid != os.getpid():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(str(self.path), timeout=60, isolation_level=None,
                                   check_same_thread=False)
            conn.execute("PRAGMA busy_timeout=60000")
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.executescript(_SCHEMA)
            self._conn, self._pid = conn, os.getpid()
        return self._conn

    def _run(self, sql: str, args: Iterable = ()) -> list[tuple]:
        with self._lock:
            return self._connect().execute(sql, tuple(args)).fetchall()

    def _transaction(self, statements: list[tuple[str, tuple]]) -> None:
        with self._lock:
            conn = self._connect()
            conn.execute("BEGIN IMMEDIATE")
            try:
                for sql, args in statements:
                    conn.execute(sql, args)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            if self._conn is not None and self._pid == os.getpid():
                self._conn.close()
            self._conn = None

    # -- entries ----------------------------------------------------------
    @staticmethod
    def _entry(row: tuple | None) -> Entry | None:
        return Entry(*row) if row else None

    def lookup(self, key: str) -> Entry | None:
        rows = self._run("SELECT key, ext, kind, size, md5, created, ttl_s, atime "
                         "FROM entries WHERE key=?", (key,))
        return self._entry(rows[0] if rows else None)

    def insert(self, entry: Entry, counters: dict[str, int] | None = None) -> None:
        statements = [("INSERT OR REPLACE INTO entries VALUES (?,?,?,?,?,?,?,?)",
                       (entry.key, entry.ext, entry.kind, entry.size, entry.md5,
                        entry.created, entry.ttl_s, entry.atime))]
        statements += self._counter_statements(counters or {})
        self._transaction(statements)

    def touch(self, key: str, now: float, counters: dict[str, int] | None = None) -> None:
        """Mark an entry used (for LRU) and add to the counters in one transaction."""
        statements = [("UPDATE entries SET atime=? WHERE key=?", (now, key))]
        statements += self._counter_statements(counters or {})
        self._transaction(statements)

    def delete(self, key: str, md5: str | None = None) -> bool:
        """Remove a row (only if it still has `md5`, when given); True when removed."""
        with self._lock:
            if md5 is None:
                cur = self._connect().execute("DELETE FROM entries WHERE key=?", (key,))
            else:
                cur = self._connect().execute("DELETE FROM entries WHERE key=? AND md5=?",
                                              (key, md5))
            return cur.rowcount > 0

    def entries(self, order_by_atime: bool = False) -> list[Entry]:
        sql = "SELECT key, ext, kind, size, md5, created, ttl_s, atime FROM entries"
        if order_by_atime:
            sql += " ORDER BY atime ASC, created ASC"
        return [Entry(*row) for row in self._run(sql)]

    def expired(self, now: float, default_ttl_s: float) -> list[Entry]:
        rows = self._run("SELECT key, ext, kind, size, md5, created, ttl_s, atime FROM entries "
                         "WHERE created + COALESCE(ttl_s, ?) <= ?", (default_ttl_s, now))
        return [Entry(*row) for row in rows]

    def totals(self) -> tuple[int, int]:
        """(number of entries, total bytes)."""
        count, size = self._run("SELECT COUNT(*), COALESCE(SUM(size), 0) FROM entries")[0]
        return int(count), int(size)

    # -- meta -------------------------------------------------------------
    def get_meta(self, key: str, now: float, default_ttl_s: float) -> dict | None:
        rows = self._run("SELECT data FROM meta WHERE key=? AND created + COALESCE(ttl_s, ?) > ?",
                         (key, default_ttl_s, now))
        if not rows:
            return None
        try:
            value = json.loads(rows[0][0])
        except ValueError:
            return None
        return value if isinstance(value, dict) else None

    def put_meta(self, key: str, data: dict, now: float, ttl_s: float | None) -> None:
        self._run("INSERT OR REPLACE INTO meta VALUES (?,?,?,?)",
                  (key, json.dumps(data, sort_keys=True), now, ttl_s))

    def delete_meta(self, key: str) -> bool:
        with self._lock:
            return self._connect().execute("DELETE FROM meta WHERE key=?", (key,)).rowcount > 0

    def delete_expired_meta(self, now: float, default_ttl_s: float) -> int:
        with self._lock:
            cur = self._connect().execute(
                "DELETE FROM meta WHERE created + COALESCE(ttl_s, ?) <= ?", (default_ttl_s, now))
            return cur.rowcount

    def meta_count(self) -> int:
        return int(self._run("SELECT COUNT(*) FROM meta")[0][0])

    # -- counters ---------------------------------------------------------
    @staticmethod
    def _counter_statements(counters: dict[str, int]) -> list[tuple[str, tuple]]:
        return [("INSERT INTO counters VALUES (?, ?) "
                 "ON CONFLICT(name) DO UPDATE SET value = value + excluded.value", (name, int(n)))
                for name, n in counters.items() if n]

    def count(self, counters: dict[str, int]) -> None:
        statements = self._counter_statements(counters)
        if statements:
            self._transaction(statements)

    def counters(self) -> dict[str, int]:
        return {name: int(value) for name, value in self._run("SELECT name, value FROM counters")}

    def clear(self, counters_too: bool = False) -> None:
        statements: list[tuple[str, tuple]] = [("DELETE FROM entries", ()), ("DELETE FROM meta", ())]
        if counters_too:
            statements.append(("DELETE FROM counters", ()))
        self._transaction(statements)
