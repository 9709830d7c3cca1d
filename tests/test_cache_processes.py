"""Several worker processes on one cache folder: one producer per key, no torn reads."""
from __future__ import annotations

import hashlib
import multiprocessing
import os
import time
from pathlib import Path

from cache import ArtifactCache, make_key

CTX = multiprocessing.get_context("fork")
DATA = os.urandom(1 << 20)  # forked children see the same bytes
KEY = make_key("video", scene=1, text="shared piece")


def _cache(root: str) -> ArtifactCache:
    return ArtifactCache(Path(root), scratch=Path(root).parent / "scratch", max_age_hours=168,
                         protect_recent_s=0)


def _make_same_key(root: str, log: str, barrier, results) -> None:
    cache = _cache(root)

    def produce(tmp: Path) -> None:
        with open(log, "a") as fh:
            fh.write(f"{os.getpid()}\n")
        with open(tmp, "wb") as out:  # slowly, so the other process has time to look
            for start in range(0, len(DATA), 1 << 16):
                out.write(DATA[start:start + (1 << 16)])
                out.flush()
                time.sleep(0.005)

    barrier.wait()
    path = cache.get_or_create(KEY, ".mp4", produce)
    results.put((str(path), hashlib.md5(path.read_bytes()).hexdigest()))


def test_two_processes_making_one_key_end_with_one_good_entry(tmp_path):
    root, log = str(tmp_path / "cache"), str(tmp_path / "produced.log")
    barrier, results = CTX.Barrier(2), CTX.Queue()
    procs = [CTX.Process(target=_make_same_key, args=(root, log, barrier, results)) for _ in range(2)]
    for p in procs:
        p.start()
    got = [results.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    expected = hashlib.md5(DATA).hexdigest()
    assert [md5 for _path, md5 in got] == [expected, expected]
    assert got[0][0] == got[1][0]
    assert len(Path(log).read_text().split()) == 1  # made once; the other process waited
    cache = _cache(root)
    assert cache.stats()["entries"] == 1
    assert cache.stats()["lifetime"]["hits"] == 1 and cache.stats()["lifetime"]["misses"] == 1
    files = [p for p in (tmp_path / "cache" / "objects").rglob("*") if p.is_file()]
    assert len(files) == 1 and not files[0].name.startswith(".tmp-")


VERSIONS = [bytes([n]) * (256 << 10) for n in (0xAA, 0x55)]


def _rewrite(root: str, rounds: int, done) -> None:
    cache = _cache(root)
    source = Path(root).parent / f"src-{os.getpid()}.bin"
    for i in range(rounds):
        source.write_bytes(VERSIONS[i % 2])
        cache.put(KEY, ".bin", source)  # replaces the entry each round
    done.set()


def _read(root: str, done, results) -> None:
    cache = _cache(root)
    reads = torn = 0
    while not done.is_set() or reads == 0:
        path = cache.get(KEY, ".bin")
        if path is None:
            continue
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            continue  # replaced between lookup and open: the caller would look again
        reads += 1
        if data not in VERSIONS:
            torn += 1
    results.put((reads, torn))


def test_readers_never_see_a_half_written_file(tmp_path):
    root = str(tmp_path / "cache")
    seed = tmp_path / "seed.bin"
    seed.write_bytes(VERSIONS[0])
    _cache(root).put(KEY, ".bin", seed)
    done, results = CTX.Event(), CTX.Queue()
    readers = [CTX.Process(target=_read, args=(root, done, results)) for _ in range(2)]
    writer = CTX.Process(target=_rewrite, args=(root, 40, done))
    for p in readers + [writer]:
        p.start()
    counts = [results.get(timeout=120) for _ in readers]
    for p in readers + [writer]:
        p.join(timeout=60)
        assert p.exitcode == 0
    assert all(reads > 0 for reads, _torn in counts)
    assert sum(torn for _reads, torn in counts) == 0
    assert _cache(root).get(KEY, ".bin").read_bytes() == VERSIONS[1]
