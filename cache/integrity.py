"""Object integrity: every cached file carries its SHA-256, and is checked against it when served.

An object's digest is taken when it is written, before it is published, and kept in two places:
its index row (with its size) and its own file name, `objects/ab/<key>.<sha256><ext>`. The name
is what a repaired index trusts: a file system that tears or flips a file's bytes leaves the
directory entry alone, so after the index itself was lost an object is adopted only when its bytes
hash to the digest in its name (cache/index_health.py), never "as found".

Serving (`check_file`) costs one `stat` once a file is known good in this process:

- the size must match the row (a truncated file never gets further);
- the first time this process serves the file its bytes are hashed in full and compared with the
  row's digest; then (inode, size, mtime_ns, ctime_ns) is remembered in the memory level. Any write
  to the file, a truncate, and a `touch` that puts the old mtime back all move ctime, which no
  program can set, so a remembered file that was changed in any way is hashed again;
- a remembered check is trusted for REVERIFY_S at most, so a long-running worker also notices
  damage that reached the disk without going through the file system (hashed again after that).

SHA-256 rather than MD5: where the CPU has SHA instructions (x86 since 2017-19, ARMv8) OpenSSL
hashes it 2-3x faster than MD5 (1.9 GB/s against 0.8 GB/s on the development machine), and
a digest that a damaged file cannot match by chance is what a repair needs to trust.
"""
from __future__ import annotations

import hashlib
import os
import re
import time
from pathlib import Path
from typing import Callable

from .memory import MemoryLevel

DIGEST_HEX = 64          # characters of a SHA-256 hex digest
REVERIFY_S = 600.0       # how long a full check of an unchanged file is trusted by one process
_NAME = re.compile(r"^(?P<key>[A-Za-z0-9_-]{1,128})\.(?P<digest>[0-9a-f]{64})(?P<ext>(\.[A-Za-z0-9]{1,12})?)$")

clock: Callable[[], float] = time.monotonic   # tests move it to pass REVERIFY_S


class DigestMismatch(RuntimeError):
    """A copy of an object (from the Redis level) does not hash to the digest it came with."""


def file_digest(path: Path, chunk: int = 1 << 20) -> str:
    """SHA-256 hex digest of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def bytes_digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def object_name(key: str, digest: str, ext: str) -> str:
    """The file name of an object: its key, its digest, its extension."""
    return f"{key}.{digest}{ext}"


def parse_object_name(name: str) -> tuple[str, str, str] | None:
    """(key, digest, ext) of an object file name, or None (a temp file, an older layout, junk)."""
    match = _NAME.match(name)
    return (match["key"], match["digest"], match["ext"]) if match else None


def _stamp(st: os.stat_result, digest: str) -> tuple:
    return (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns, digest)


def remember(memory: MemoryLevel, key: str, path: Path, digest: str) -> None:
    """Record that `path` (just written or just hashed) holds `digest`."""
    try:
        st = os.stat(path)
    except FileNotFoundError:   # a concurrent `cache clear` may have won
        return
    memory.put(("verified", key), (_stamp(st, digest), clock()))


def forget(memory: MemoryLevel, key: str) -> None:
    memory.drop(("verified", key))


def check_file(memory: MemoryLevel, key: str, path: Path, size: int, digest: str) -> str:
    """'' when the file at `path` holds `size` bytes hashing to `digest`, else why not
    ('missing', 'size', 'checksum')."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return "missing"
    if st.st_size != size:
        return "size"
    known = memory.get(("verified", key))
    if known is not None and known[0] == _stamp(st, digest) and clock() - known[1] < REVERIFY_S:
        return ""   # this process hashed this very file, unchanged since
    try:
        found = file_digest(path)
    except FileNotFoundError:
        return "missing"
    if found != digest:
        forget(memory, key)
        return "checksum"
    memory.put(("verified", key), (_stamp(st, digest), clock()))
    return ""
