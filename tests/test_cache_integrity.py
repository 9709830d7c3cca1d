"""Cache integrity: each object's size and SHA-256 are recorded when it is written and checked when
it is served or adopted by an index repair; a damaged object is dropped and made again, never served.
Digests are worked out here with hashlib and the index is read with sqlite3, not through the cache."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import time
from pathlib import Path

import pytest

import cache.index as index_module
import cache.index_repair as repair
import cache.integrity as integrity
from cache import ArtifactCache, make_key

DATA = bytes(range(256)) * 64          # 16 KiB


class Producer:
    def __init__(self, data: bytes = DATA):
        self.data, self.calls = data, 0

    def __call__(self, tmp: Path) -> None:
        self.calls += 1
        tmp.write_bytes(self.data)


def new_cache(root: Path) -> ArtifactCache:
    return ArtifactCache(root, scratch=root.parent / "scratch", max_age_hours=168, protect_recent_s=0)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def rows(root: Path) -> dict[str, tuple]:
    """key -> (ext, size, digest) straight from the index file."""
    conn = sqlite3.connect(root / "index.sqlite")
    try:
        return {k: (e, s, d) for k, e, s, d in conn.execute("SELECT key, ext, size, digest FROM entries")}
    finally:
        conn.close()


def damage(path: Path, how: str) -> None:
    """Truncate or flip one bit in place, then put the old mtime back (what a careless copy
    or a torn write may leave)."""
    st = path.stat()
    with open(path, "r+b") as fh:
        if how == "truncate":
            fh.truncate(st.st_size // 2)
        else:
            fh.seek(st.st_size // 3)
            byte = fh.read(1)[0]
            fh.seek(st.st_size // 3)
            fh.write(bytes([byte ^ 0x08]))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def garble_index(root: Path) -> None:
    index = root / "index.sqlite"
    index.write_bytes(os.urandom(index.stat().st_size))
    for suffix in ("-wal", "-shm"):
        Path(f"{index}{suffix}").unlink(missing_ok=True)
    index_module._CHECKED.clear()      # as in a new process: checked at its first open


def test_each_object_is_named_and_indexed_by_the_sha256_of_its_bytes(tmp_path):
    root = tmp_path / "cache"
    key = make_key("tts", text="named by its bytes")
    path = new_cache(root).get_or_create(key, ".wav", Producer())
    assert path.name == f"{key}.{sha256(DATA)}.wav" and path.read_bytes() == DATA
    assert rows(root)[key] == (".wav", len(DATA), sha256(DATA))


@pytest.mark.parametrize("how", ["flip", "truncate"])
@pytest.mark.parametrize("process", ["same", "new"])
def test_a_damaged_object_is_never_served(tmp_path, how, process, caplog):
    """Damaged after it was served and remembered (same process), or found by a new process;
    the file's mtime put back does not hide it."""
    root = tmp_path / "cache"
    key = make_key("image", prompt=f"{how} {process}")
    first = new_cache(root)
    path = first.get_or_create(key, ".png", Producer())
    assert first.get(key, ".png") == path          # a verified hit, remembered by `first`
    damage(path, how)
    cache = first if process == "same" else new_cache(root)
    assert cache.get(key, ".png") is None          # not served: a miss
    assert not path.exists() and key not in rows(root)   # file and row dropped
    assert "is damaged" in caplog.text
    again = Producer()
    assert cache.get_or_create(key, ".png", again).read_bytes() == DATA
    assert again.calls == 1 and cache.stats()["corrupt"] == 1


def test_a_remembered_check_is_trusted_for_a_while_only(tmp_path, monkeypatch):
    """The hot path hashes a file once per process, then stats it; after REVERIFY_S it hashes again."""
    now = [1000.0]
    monkeypatch.setattr(integrity, "clock", lambda: now[0])
    hashed = []
    real = integrity.file_digest
    monkeypatch.setattr(integrity, "file_digest", lambda path: hashed.append(path) or real(path))
    root = tmp_path / "cache"
    key = make_key("piece", n=1)
    new_cache(root).get_or_create(key, ".mp4", Producer())
    cache = new_cache(root)                        # a fresh process's memory
    hashed.clear()
    for _ in range(3):
        assert cache.get(key, ".mp4") is not None
    assert len(hashed) == 1                        # hashed once, then only stat
    now[0] += integrity.REVERIFY_S + 1
    assert cache.get(key, ".mp4") is not None
    assert len(hashed) == 2


def fill(root: Path, n: int = 6) -> list[tuple[str, bytes]]:
    cache = new_cache(root)
    made = []
    for i in range(n):
        key, data = make_key("image", prompt=f"picture {i}"), os.urandom(4000 + i)
        cache.get_or_create(key, ".png", Producer(data))
        made.append((key, data))
    cache.close()
    return made


def object_file(root: Path, key: str) -> Path:
    [path] = (root / "objects" / key[:2]).glob(f"{key}.*")
    return path


def test_a_repair_adopts_only_objects_whose_bytes_match_their_name(tmp_path, caplog):
    root = tmp_path / "cache"
    made = fill(root)
    flipped, truncated = made[0][0], made[1][0]
    damaged_names = {object_file(root, flipped).name, object_file(root, truncated).name}
    damage(object_file(root, flipped), "flip")
    damage(object_file(root, truncated), "truncate")
    garble_index(root)
    cache = new_cache(root)
    cache.stats()                                  # the first query finds the damage and repairs
    assert list(root.glob("index.sqlite.damaged-*"))
    fresh = rows(root)
    assert set(fresh) == {key for key, _data in made[2:]}     # the damaged two are not adopted
    for key, data in made[2:]:
        assert fresh[key] == (".png", len(data), sha256(data))
    assert not list((root / "objects").rglob(f"{flipped}.*"))
    assert not list((root / "objects").rglob(f"{truncated}.*"))
    for name in damaged_names:
        assert name in caplog.text                 # each named in a warning
    assert "2 damaged files were dropped" in caplog.text
    for key, data in made:
        again = Producer(data)
        assert cache.get_or_create(key, ".png", again).read_bytes() == data
        assert again.calls == (1 if key in (flipped, truncated) else 0), key
    assert cache.stats()["lifetime"]["corrupt"] == 2


def test_a_repair_does_not_take_the_damaged_indexs_word_for_it(tmp_path):
    """The old index still reads, but its row was rewritten to the damaged file's size and digest:
    the object is still judged by the digest in its name."""
    root = tmp_path / "cache"
    made = fill(root, 2)
    key = made[0][0]
    path = object_file(root, key)
    damage(path, "truncate")
    lying = tmp_path / "old-index.sqlite"
    shutil.copy(root / "index.sqlite", lying)
    conn = sqlite3.connect(lying)
    conn.execute("UPDATE entries SET size=?, digest=? WHERE key=?",
                 (path.stat().st_size, sha256(path.read_bytes()), key))
    conn.commit()
    conn.close()
    (root / "index.sqlite").unlink()
    fresh = sqlite3.connect(tmp_path / "fresh.sqlite", isolation_level=None)
    from cache.index_health import SCHEMA
    fresh.executescript(SCHEMA)
    adopted, dropped, later = repair.adopt_objects(fresh, lying, root / "objects", ".tmp-")
    assert (adopted, dropped, later) == (1, 1, 0)
    assert [r[0] for r in fresh.execute("SELECT key FROM entries")] == [made[1][0]]
    assert not path.exists()


def test_beyond_the_hashing_budget_adopted_objects_are_checked_when_first_served(tmp_path, monkeypatch,
                                                                                 caplog):
    monkeypatch.setattr(repair, "ADOPT_MAX_BYTES", 0)   # a cache too big to hash during the repair
    root = tmp_path / "cache"
    made = fill(root, 3)
    damage(object_file(root, made[0][0]), "flip")
    garble_index(root)
    cache = new_cache(root)
    cache.stats()
    assert "3 to be checked when first used" in caplog.text
    for key, data in made:
        again = Producer(data)
        assert cache.get_or_create(key, ".png", again).read_bytes() == data
        assert again.calls == (1 if key == made[0][0] else 0)
    assert cache.stats()["corrupt"] == 1


def test_damaged_details_are_not_served(tmp_path, caplog):
    root = tmp_path / "cache"
    key = make_key("tts", text="spans")
    writer = new_cache(root)
    writer.put_meta(key, {"sentences": [["Hi.", 0.0, 0.4]]})
    writer.close()
    conn = sqlite3.connect(root / "index.sqlite")
    conn.execute("UPDATE meta SET data=? WHERE key=?",
                 (json.dumps({"sentences": [["Hi.", 0.0, 9.4]]}), key))   # still valid JSON
    conn.commit()
    conn.close()
    assert new_cache(root).get_meta(key) is None
    assert "are damaged" in caplog.text


V1_SCHEMA = """
CREATE TABLE entries (key TEXT PRIMARY KEY, ext TEXT NOT NULL, kind TEXT NOT NULL, size INTEGER NOT NULL,
    md5 TEXT NOT NULL, created REAL NOT NULL, ttl_s REAL, atime REAL NOT NULL);
CREATE TABLE meta (key TEXT PRIMARY KEY, data TEXT NOT NULL, created REAL NOT NULL, ttl_s REAL);
CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


def test_an_index_of_the_layout_before_digests_is_upgraded(tmp_path):
    """A cache folder written before objects carried their digest: its files are not trusted
    (made again, then swept as strays), its counters stay."""
    root = tmp_path / "cache"
    key = make_key("tts", text="from an older worker")
    old_file = root / "objects" / key[:2] / f"{key}.wav"
    old_file.parent.mkdir(parents=True)
    old_file.write_bytes(b"old" * 100)
    hour_ago = time.time() - 7200
    os.utime(old_file, (hour_ago, hour_ago))
    conn = sqlite3.connect(root / "index.sqlite")
    conn.executescript(V1_SCHEMA)
    conn.execute("INSERT INTO entries VALUES (?,?,?,?,?,?,?,?)",
                 (key, ".wav", "tts", 300, hashlib.md5(b"old" * 100).hexdigest(), hour_ago, None, hour_ago))
    conn.execute("INSERT INTO counters VALUES ('hits', 5)")
    conn.commit()
    conn.close()
    cache = new_cache(root)
    made = Producer()
    assert cache.get_or_create(key, ".wav", made).read_bytes() == DATA and made.calls == 1
    assert cache.stats()["lifetime"]["hits"] == 5
    conn = sqlite3.connect(root / "index.sqlite")
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 2
    conn.close()
    assert cache.cleanup_expired() == 1 and not old_file.exists()
    assert cache.get_or_create(key, ".wav", made).read_bytes() == DATA and made.calls == 1
