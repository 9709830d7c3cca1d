"""Replacing a damaged index: the old file moved aside, the intact objects adopted into a fresh one.

Index._repair (cache/index.py) moves a damaged index to index.sqlite.damaged-<time> under a lock
(one process repairs, the others find the fresh index) and calls `adopt_objects`, which indexes
every object file whose bytes still hash to the SHA-256 in its own name (cache/integrity.py).
The damaged index is only read for what it can add to a file that passed (its kind, creation
time, lifetime, last use) and for meta rows whose text matches their digest; it is never what
makes a file trusted, because a damaged index may lie. A file that does not match its name is
deleted (counted as `corrupt`, with a warning) and made again by its producer when a job needs
it. Objects are hashed up to ADOPT_MAX_BYTES / ADOPT_MAX_S; any beyond that budget are indexed
with the digest from their name and get the full check when first served, as every object does.
"""
from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import time
from pathlib import Path

from .integrity import bytes_digest, file_digest, parse_object_name

log = logging.getLogger("protovideo.cache")

ADOPT_MAX_BYTES = 2 << 30  # object bytes hashed during a repair; any beyond are checked at first use
ADOPT_MAX_S = 20.0
KEEP_DAMAGED = 2           # damaged index copies kept for a post-mortem
NAMED_DAMAGED = 20         # damaged files named one by one in the log; the rest only counted


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


def objects_on_disk(objects: Path, temp_prefix: str) -> list[tuple[str, str, str, Path, int, float]]:
    """(key, digest, ext, path, size, mtime) of every published object file, newest first;
    temp files and names without a digest (an older layout, strays) are left out."""
    found = []
    for folder in objects.iterdir() if objects.is_dir() else ():
        if not folder.is_dir():
            continue
        for file in folder.iterdir():
            named = parse_object_name(file.name)
            if file.name.startswith(temp_prefix) or named is None or named[0][:2] != folder.name:
                continue
            with contextlib.suppress(FileNotFoundError):
                st = file.stat()
                if st.st_size > 0 and file.is_file():
                    found.append((*named, file, st.st_size, st.st_mtime))
    found.sort(key=lambda item: item[5], reverse=True)
    return found


def salvage(damaged: Path) -> tuple[dict[str, tuple], list[tuple], list[tuple]]:
    """What can still be read from a damaged index: entries by key, meta rows whose text
    matches their digest, counters.

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

    def keep_meta(row: tuple) -> None:
        if isinstance(row[1], str) and bytes_digest(row[1].encode()) == row[2]:
            meta.append(row)

    try:
        for sql, sink in (("SELECT key, ext, kind, size, digest, created, ttl_s, atime FROM entries",
                           lambda row: entries.__setitem__(row[0], row)),
                          ("SELECT key, data, digest, created, ttl_s FROM meta", keep_meta),
                          ("SELECT name, value FROM counters",
                           lambda row: isinstance(row[1], int) and counters.append(row))):
            try:
                for row in conn.execute(sql):
                    sink(row)
            except (sqlite3.Error, UnicodeDecodeError):
                continue
    finally:
        conn.close()
    return entries, meta, counters


def _drop_damaged(file: Path, dropped: int) -> None:
    with contextlib.suppress(FileNotFoundError):
        file.unlink()
    if dropped < NAMED_DAMAGED:
        log.warning("cache: %s is damaged (its bytes do not match the digest in its name); "
                    "dropped, it is made again when a job needs it", file.name)


def adopt_objects(conn: sqlite3.Connection, damaged: Path, objects: Path | None,
                  temp_prefix: str) -> tuple[int, int, int]:
    """Index the intact object files into the fresh index `conn`, with what the damaged
    index still says about them. Returns (adopted, dropped as damaged, adopted unchecked
    beyond the budget: checked when first served)."""
    if objects is None:
        return 0, 0, 0
    rows, meta, counters = salvage(damaged)
    adopted = dropped = later = hashed = 0
    deadline = time.monotonic() + ADOPT_MAX_S
    chosen = []
    for key, digest, ext, file, size, mtime in objects_on_disk(objects, temp_prefix):
        row = rows.get(key)
        if row is None or (row[1], row[3], row[4]) != (ext, size, digest):
            row = (key, ext, "adopted", size, digest, mtime, None, mtime)
        if hashed + size <= ADOPT_MAX_BYTES and time.monotonic() <= deadline:
            hashed += size
            try:
                intact = file_digest(file) == digest
            except OSError:
                continue
            if not intact:
                _drop_damaged(file, dropped)
                dropped += 1
                continue
        else:
            later += 1
        chosen.append(row)
    conn.execute("BEGIN IMMEDIATE")
    try:
        for row in chosen:
            adopted += conn.execute("INSERT OR IGNORE INTO entries VALUES (?,?,?,?,?,?,?,?)",
                                    row).rowcount
        conn.executemany("INSERT OR IGNORE INTO meta VALUES (?,?,?,?,?)", meta)
        conn.executemany("INSERT OR IGNORE INTO counters VALUES (?,?)", counters)
        if dropped:
            conn.execute("INSERT INTO counters VALUES ('corrupt', ?) ON CONFLICT(name) "
                         "DO UPDATE SET value = value + excluded.value", (dropped,))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return adopted, dropped, later
