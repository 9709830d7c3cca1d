"""The disk level's index: one SQLite database (WAL) shared by every process on the folder.

Tables (PRAGMA user_version = index_health.SCHEMA_VERSION):
  entries(key, ext, kind, size, digest, created, ttl_s, atime)  one row per artifact file
  meta(key, data, digest, created, ttl_s)                       small JSON dictionaries
  counters(name, value)                                         hits, misses, ... (persist)

`digest` is the SHA-256 of the object's bytes (also in its file name, cache/integrity.py)
or of the meta's JSON text: a meta row whose text does not match is not served.

SQLite rather than diskcache's key-value API because the cache needs ordered
queries over its own files (least recently used first, total size, expired rows)
in one transaction with the counters. ttl_s NULL means "the default lifetime"
(CACHE_MAX_AGE at the time of the check), so changing the setting applies to
existing entries; a per-entry override is stored in seconds.

Every query goes through _call: lock contention is retried and a damaged index is
replaced by a fresh one into which the intact objects are adopted back
(cache/index_health.py recognizes the damage, cache/index_repair.py adopts), then the
query runs again.
"""
from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, TypeVar

from .index_health import is_damage, open_connection, retry_locked
from .index_repair import adopt_objects, move_aside
from .integrity import bytes_digest
from .locks import file_lock

log = logging.getLogger("protovideo.cache")
T = TypeVar("T")
COLUMNS = "key, ext, kind, size, digest, created, ttl_s, atime"
_CHECKED: set[str] = set()   # index files quick_check'ed by this process
_CHECKED_LOCK = threading.Lock()
INODE_RECHECK_S = 5.0        # how often a connection looks whether a repair replaced the file

@dataclass(frozen=True)
class Entry:
    key: str
    ext: str
    kind: str
    size: int
    digest: str           # SHA-256 of the file's bytes
    created: float
    ttl_s: float | None
    atime: float

    def expires_at(self, default_ttl_s: float) -> float:
        return self.created + (self.ttl_s if self.ttl_s is not None else default_ttl_s)

    def age_s(self, now: float | None = None) -> float:
        return (time.time() if now is None else now) - self.created


class Index:
    def __init__(self, path: Path, objects: Path | None = None, locks: Path | None = None,
                 temp_prefix: str = ".tmp-"):
        self.path = Path(path)
        self.objects = objects            # where adoptable files live after a repair
        self.locks = locks or self.path.parent / "locks"
        self.temp_prefix = temp_prefix
        self.repairs = 0                  # damaged indexes this object replaced
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        self._pid = 0
        self._ino = 0
        self._ino_checked = 0.0
        self._call(lambda conn: None, "open")

    # -- connection -------------------------------------------------------
    def _inode(self) -> int:
        try:
            return os.stat(self.path).st_ino
        except FileNotFoundError:
            return 0

    def _connect(self) -> sqlite3.Connection:
        now = time.monotonic()
        if (self._conn is not None and self._pid == os.getpid()
                and now - self._ino_checked >= INODE_RECHECK_S):
            self._ino_checked = now
            if self._inode() != self._ino:   # another process replaced a damaged index
                self._drop_connection()
        if self._conn is None or self._pid != os.getpid():
            key = str(self.path.resolve())
            with _CHECKED_LOCK:
                check = key not in _CHECKED
            self._ino, self._ino_checked = self._inode(), now   # what a repair would replace
            conn = open_connection(self.path, check=check)
            with _CHECKED_LOCK:
                _CHECKED.add(key)
            self._conn, self._pid = conn, os.getpid()
            self._ino = self._inode()
        return self._conn

    def _drop_connection(self) -> None:
        if self._conn is not None and self._pid == os.getpid():
            try:
                self._conn.close()
            except sqlite3.Error:
                pass
        self._conn = None

    def _call(self, op: Callable[[sqlite3.Connection], T], what: str) -> T:
        """op(connection) with lock contention retried and a damaged index repaired once."""
        with self._lock:
            try:
                return retry_locked(lambda: op(self._connect()), what)
            except sqlite3.DatabaseError as exc:
                if not is_damage(exc):
                    raise
                self._repair(exc)
            return retry_locked(lambda: op(self._connect()), what)

    def _repair(self, exc: BaseException) -> None:
        """Move the damaged index aside and start a fresh one (one process at a time)."""
        seen = self._ino
        self._drop_connection()
        self.locks.mkdir(parents=True, exist_ok=True)
        with file_lock(self.locks / "index-repair.lock", remove=False):
            current = self._inode()
            if current != seen:
                log.warning("cache: index %s was damaged (%s); another worker has replaced it",
                            self.path, exc)
                return
            aside = move_aside(self.path)
            self.repairs += 1
            log.warning("cache: index %s is damaged (%s); moved it aside to %s and started a "
                        "fresh one (cached files whose bytes match their digest are taken back, "
                        "the rest made again)", self.path, exc, aside.name)
            conn = open_connection(self.path, check=False)
            try:
                adopted, damaged, later = adopt_objects(conn, aside, self.objects, self.temp_prefix)
            finally:
                conn.close()
            log.warning("cache: the fresh index %s holds %d cached files whose bytes match their "
                        "digest%s; %d damaged files were dropped (made again when a job needs them)",
                        self.path, adopted,
                        f" and {later} to be checked when first used" if later else "", damaged)

    def _run(self, sql: str, args: Iterable = ()) -> list[tuple]:
        args = tuple(args)
        return self._call(lambda conn: conn.execute(sql, args).fetchall(), sql.split(" ", 1)[0])

    def _rowcount(self, sql: str, args: Iterable = ()) -> int:
        args = tuple(args)
        return self._call(lambda conn: conn.execute(sql, args).rowcount, sql.split(" ", 1)[0])

    def _transaction(self, statements: list[tuple[str, tuple]]) -> None:
        def run(conn: sqlite3.Connection) -> None:
            conn.execute("BEGIN IMMEDIATE")
            try:
                for sql, args in statements:
                    conn.execute(sql, args)
                conn.execute("COMMIT")
            except BaseException:
                try:
                    conn.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
                raise
        self._call(run, "transaction")

    def close(self) -> None:
        with self._lock:
            self._drop_connection()

    # -- entries ----------------------------------------------------------
    @staticmethod
    def _entry(row: tuple | None) -> Entry | None:
        return Entry(*row) if row else None

    def lookup(self, key: str) -> Entry | None:
        rows = self._run(f"SELECT {COLUMNS} FROM entries WHERE key=?", (key,))
        return self._entry(rows[0] if rows else None)

    def insert(self, entry: Entry, counters: dict[str, int] | None = None) -> None:
        statements = [("INSERT OR REPLACE INTO entries VALUES (?,?,?,?,?,?,?,?)",
                       (entry.key, entry.ext, entry.kind, entry.size, entry.digest,
                        entry.created, entry.ttl_s, entry.atime))]
        statements += self._counter_statements(counters or {})
        self._transaction(statements)

    def touch(self, key: str, now: float, counters: dict[str, int] | None = None) -> None:
        """Mark an entry used (for LRU) and add to the counters in one transaction."""
        statements = [("UPDATE entries SET atime=? WHERE key=?", (now, key))]
        statements += self._counter_statements(counters or {})
        self._transaction(statements)

    def delete(self, key: str, digest: str | None = None) -> bool:
        """Remove a row (only if it still has `digest`, when given); True when removed."""
        if digest is None:
            return self._rowcount("DELETE FROM entries WHERE key=?", (key,)) > 0
        return self._rowcount("DELETE FROM entries WHERE key=? AND digest=?", (key, digest)) > 0

    def entries(self, order_by_atime: bool = False) -> list[Entry]:
        sql = f"SELECT {COLUMNS} FROM entries"
        if order_by_atime:
            sql += " ORDER BY atime ASC, created ASC"
        return [Entry(*row) for row in self._run(sql)]

    def expired(self, now: float, default_ttl_s: float) -> list[Entry]:
        rows = self._run(f"SELECT {COLUMNS} FROM entries WHERE created + COALESCE(ttl_s, ?) <= ?",
                         (default_ttl_s, now))
        return [Entry(*row) for row in rows]

    def totals(self) -> tuple[int, int]:
        """(number of entries, total bytes)."""
        count, size = self._run("SELECT COUNT(*), COALESCE(SUM(size), 0) FROM entries")[0]
        return int(count), int(size)

    # -- meta -------------------------------------------------------------
    def get_meta(self, key: str, now: float, default_ttl_s: float) -> dict | None:
        rows = self._run("SELECT data, digest FROM meta WHERE key=? AND created + COALESCE(ttl_s, ?) > ?",
                         (key, default_ttl_s, now))
        if not rows:
            return None
        text, digest = rows[0]
        if not isinstance(text, str) or bytes_digest(text.encode()) != digest:
            log.warning("cache: the details stored with %s are damaged; they are made again", key)
            return None
        try:
            value = json.loads(text)
        except ValueError:
            return None
        return value if isinstance(value, dict) else None

    def put_meta(self, key: str, data: dict, now: float, ttl_s: float | None) -> None:
        text = json.dumps(data, sort_keys=True)
        self._run("INSERT OR REPLACE INTO meta VALUES (?,?,?,?,?)",
                  (key, text, bytes_digest(text.encode()), now, ttl_s))

    def delete_meta(self, key: str) -> bool:
        return self._rowcount("DELETE FROM meta WHERE key=?", (key,)) > 0

    def delete_expired_meta(self, now: float, default_ttl_s: float) -> int:
        return self._rowcount("DELETE FROM meta WHERE created + COALESCE(ttl_s, ?) <= ?",
                              (default_ttl_s, now))

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
