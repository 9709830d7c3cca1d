"""Cache trouble never fails a job: contention waited out, a damaged index healed, a broken
cache folder bypassed, a full disk leaving no half entry."""
from __future__ import annotations

import errno
import functools
import hashlib
import json
import multiprocessing
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

import cache.index as index_module
import cache.index_health as health
from cache import ArtifactCache, make_key
from daemon_helpers import ROOT, tiny_job, worker_env
from media import ffprobe

CTX = multiprocessing.get_context("fork")


def new_cache(root: Path) -> ArtifactCache:
    return ArtifactCache(root, scratch=root.parent / "scratch", max_age_hours=168, protect_recent_s=0)


def fill(root: Path, n: int = 30) -> list[str]:
    cache = new_cache(root)
    keys = [make_key("tts", text=f"sentence {i}") for i in range(n)]
    for i, key in enumerate(keys):
        cache.get_or_create(key, ".wav", lambda tmp, i=i: tmp.write_bytes(f"audio {i}".encode() * 500))
        cache.put_meta(key, {"sentences": [[f"s{i}", 0.0, 1.0]]})
    cache.close()
    return keys


def damage(index: Path, how: str) -> None:
    size = index.stat().st_size
    if how == "truncated":
        with open(index, "r+b") as fh:
            fh.truncate(size // 2)
    else:
        index.write_bytes(os.urandom(size))
    for suffix in ("-wal", "-shm"):   # a torn disk: the WAL is gone too
        Path(f"{index}{suffix}").unlink(missing_ok=True)


# ---------------------------------------------------------------- many processes, one fresh folder
def _open_and_use(root: str, barrier, results) -> None:
    try:
        barrier.wait()
        cache = new_cache(Path(root))
        for i in range(12):
            key = make_key("image", n=i % 4)
            path = cache.get_or_create(key, ".png", lambda tmp, i=i: tmp.write_bytes(b"p" * (1000 + i % 4)))
            assert path.stat().st_size == 1000 + i % 4
            cache.put_meta(key, {"n": i % 4})
        results.put("ok")
    except BaseException as exc:  # noqa: BLE001 - reported to the parent
        results.put(f"{type(exc).__name__}: {exc}")


def test_four_processes_opening_a_fresh_cache_folder_at_once(tmp_path):
    for round_ in range(3):
        root = tmp_path / f"cache{round_}"
        barrier, results = CTX.Barrier(4), CTX.Queue()
        procs = [CTX.Process(target=_open_and_use, args=(str(root), barrier, results)) for _ in range(4)]
        for p in procs:
            p.start()
        outcomes = [results.get(timeout=120) for _ in procs]
        for p in procs:
            p.join(timeout=60)
        assert outcomes == ["ok"] * 4
        assert new_cache(root).stats()["entries"] == 4


def test_four_worker_processes_render_on_one_fresh_cache_folder(tmp_path):
    """The documented several-workers case: four `run --once` workers start together on one
    spool and one new CACHE_DIR; every job is done and no worker fails."""
    env = worker_env(tmp_path, MAX_WORKERS=2)
    for n in range(4):
        job = tiny_job(f"shared{n}", scenes=2)
        job["scenes"][0]["narration_text"] = "Four workers share one cache. None of them fails."
        (tmp_path / f"job{n}.json").write_text(json.dumps(job))
        submitted = subprocess.run([sys.executable, str(ROOT / "main_worker.py"), "submit", f"job{n}.json"],
                                   cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
        assert submitted.returncode == 0, submitted.stderr
    assert not Path(env["CACHE_DIR"]).exists()
    procs = [subprocess.Popen([sys.executable, str(ROOT / "main_worker.py"), "run", "--once"],
                              cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(4)]
    outcomes = [(p.wait(timeout=600), p.stderr.read()) for p in procs]
    assert [code for code, _err in outcomes] == [0] * 4, outcomes   # exit 1 if any job failed
    done = sorted(p.name for p in (tmp_path / "var/spool/done").glob("*.json"))
    assert done == [f"shared{n}.json" for n in range(4)]
    assert all((tmp_path / f"var/output/shared{n}.mp4").stat().st_size > 1000 for n in range(4))
    log = (tmp_path / "worker.log").read_text()
    assert "without the cache" not in log and "OperationalError" not in log
    stats = new_cache(Path(env["CACHE_DIR"])).stats()
    assert stats["entries"] > 0 and stats["lifetime"]["hits"] > 0   # they shared their work


# ---------------------------------------------------------------- lock contention
def _hold_exclusive(path: str, ready, release) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN EXCLUSIVE")
    ready.set()
    release.wait(120)          # until the cache has retried once (120 s only bounds a hang)
    conn.execute("COMMIT")
    conn.close()


def test_a_locked_index_is_waited_out_beyond_sqlites_busy_timeout(tmp_path, monkeypatch):
    root = tmp_path / "cache"
    root.mkdir()
    index = root / "index.sqlite"
    sqlite3.connect(index).execute("CREATE TABLE early (x)")   # rollback journal: readers blocked
    monkeypatch.setattr(health, "BUSY_TIMEOUT_S", 0.1)         # SQLite gives up at once...
    ready, release = CTX.Event(), CTX.Event()
    real_sleep = time.sleep

    def pause(seconds: float) -> None:                         # ...and the cache's own retry pauses:
        release.set()                                          # the lock ends during the first one
        real_sleep(seconds)

    monkeypatch.setattr(health.time, "sleep", pause)
    holder = CTX.Process(target=_hold_exclusive, args=(str(index), ready, release))
    holder.start()
    assert ready.wait(60)
    cache = new_cache(root)                                    # the open (WAL switch, schema) waits
    key = make_key("tts", text="after the lock")
    assert cache.get_or_create(key, ".wav", lambda tmp: tmp.write_bytes(b"ok")).read_bytes() == b"ok"
    holder.join(60)
    assert release.is_set()                                    # it did meet the lock and retry
    assert cache.stats()["entries"] == 1 and "unavailable" not in cache.stats()


def test_lock_errors_in_queries_are_retried(tmp_path, monkeypatch):
    cache = new_cache(tmp_path / "cache")
    real = sqlite3.Connection.execute
    failures = {"left": 5}

    class Flaky(sqlite3.Connection):
        def execute(self, sql, *args):
            if sql.startswith("BEGIN IMMEDIATE") and failures["left"]:
                failures["left"] -= 1
                raise sqlite3.OperationalError("database is locked")
            return real(self, sql, *args)

    monkeypatch.setattr(sqlite3, "connect", functools.partial(_REAL_CONNECT, factory=Flaky))
    cache.close()   # reconnect through the flaky connection
    key = make_key("tts", text="flaky")
    assert cache.get_or_create(key, ".wav", lambda tmp: tmp.write_bytes(b"x")).read_bytes() == b"x"
    assert failures["left"] == 0 and cache.stats()["entries"] == 1


_REAL_CONNECT = sqlite3.connect


# ---------------------------------------------------------------- a damaged index
@pytest.mark.parametrize("how", ["truncated", "garbage"])
def test_a_damaged_index_is_moved_aside_and_the_cache_works_again(tmp_path, how, caplog):
    root = tmp_path / "cache"
    keys = fill(root)
    damage(root / "index.sqlite", how)
    index_module._CHECKED.clear()   # a new process would check at its first open
    cache = new_cache(root)
    made = []
    for key in keys:
        path = cache.get_or_create(key, ".wav", lambda tmp: made.append(tmp) or tmp.write_bytes(b"again"))
        assert path.is_file()
    assert "is damaged" in caplog.text
    assert list(root.glob("index.sqlite.damaged-*"))
    assert len(made) < len(keys)            # intact objects were adopted, not made again
    fresh = make_key("tts", text="after the repair")
    cache.get_or_create(fresh, ".wav", lambda tmp: tmp.write_bytes(b"new"))
    other = new_cache(root)                 # and the fresh index is shared as before
    assert other.get(fresh, ".wav").read_bytes() == b"new"
    assert "unavailable" not in other.stats()


def test_damage_found_at_the_first_failing_query_of_a_running_process(tmp_path, caplog):
    root = tmp_path / "cache"
    keys = fill(root)
    cache = new_cache(root)                 # opened (and checked) before the damage
    assert cache.get(keys[0], ".wav") is not None
    cache.close()
    damage(root / "index.sqlite", "garbage")
    made = []
    path = cache.get_or_create(keys[1], ".wav", lambda tmp: made.append(1) or tmp.write_bytes(b"x"))
    assert path.is_file() and "is damaged" in caplog.text
    assert new_cache(root).stats()["entries"] >= 1


def test_a_render_succeeds_on_a_damaged_index_and_the_cache_works_again(tmp_path):
    env = worker_env(tmp_path)
    job = tiny_job("healing")
    job["scenes"][0]["narration_text"] = "The index tore. The cache heals itself."
    (tmp_path / "job.json").write_text(json.dumps(job))

    def render(n: int) -> dict:
        result = subprocess.run([sys.executable, str(ROOT / "main_worker.py"), "render", "job.json",
                                 "-o", f"out{n}.mp4", "--quiet"], cwd=tmp_path, env=env,
                                capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, result.stderr
        return json.loads(Path(result.stderr.split("report: ")[1].split()[0]).read_text())

    render(1)
    for how in ("truncated", "garbage"):
        damage(Path(env["CACHE_DIR"]) / "index.sqlite", how)
        report = render(2)
        assert report["cache_stats"]["hits"] > 0          # the fresh index serves adopted pieces
        assert "is damaged" in (tmp_path / "worker.log").read_text()
    stats = subprocess.run([sys.executable, str(ROOT / "main_worker.py"), "cache", "stats", "--json"],
                           cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert stats.returncode == 0 and json.loads(stats.stdout)["entries"] > 0


# ---------------------------------------------------------------- every cached file damaged
def damage_every_file(root: Path) -> dict[Path, bytes]:
    """Truncate or flip one bit of (in turn) every non-empty file under root: the objects and,
    when there, the index and its WAL. Returns the damaged bytes by path."""
    damaged = {}
    files = sorted(f for f in root.rglob("*") if f.is_file() and f.stat().st_size > 0)
    for n, file in enumerate(files):
        data = bytearray(file.read_bytes())
        if n % 2:
            data[len(data) // 2] ^= 0x10
        else:
            del data[len(data) // 2:]
        file.write_bytes(bytes(data))
        damaged[file] = bytes(data)
    return damaged


def named_digest(file: Path) -> str:
    return file.name.split(".")[1]


@pytest.mark.parametrize("index_too", [True, False], ids=["objects-and-index", "objects-only"])
def test_every_cached_object_damaged_the_same_job_renders_again_and_its_objects_are_made_again(
        tmp_path, index_too):
    """The issue's case: after every cache file (and the index) was truncated or bit-flipped, a
    render of the same job succeeds with the same duration, serving nothing damaged: every object
    it used was made again and hashes to the digest it is indexed under."""
    env = worker_env(tmp_path)
    job = {"id": "healing-all",
           "video": {"width": 270, "height": 480, "fps": 12, "transition": "cut", "quality": "draft"},
           "scenes": [{"narration_text": "The cache tore.", "promptImage": "a red kite", "duration": 3},
                      {"narration_text": "It heals itself.", "promptImage": "a blue sea", "duration": 3}]}
    (tmp_path / "job.json").write_text(json.dumps(job))

    def render(n: int) -> tuple[float, dict]:
        result = subprocess.run([sys.executable, str(ROOT / "main_worker.py"), "render", "job.json",
                                 "-o", f"out{n}.mp4", "--quiet"], cwd=tmp_path, env=env,
                                capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, result.stderr
        report = json.loads(Path(result.stderr.split("report: ")[1].split()[0]).read_text())
        return float(ffprobe(tmp_path / f"out{n}.mp4")["format"]["duration"]), report

    first_duration, _ = render(1)
    root = Path(env["CACHE_DIR"])
    objects = sorted((root / "objects").rglob("*.*"))
    assert {f.suffix for f in objects} >= {".wav", ".png", ".mp4", ".aac", ".jpg"}
    damaged = damage_every_file(root if index_too else root / "objects")
    assert len(damaged) == len(objects) + index_too

    second_duration, report = render(2)
    assert abs(second_duration - first_duration) < 1e-3 and abs(second_duration - 6.0) < 1 / 12
    stats = report["cache_stats"]
    assert stats["hits"] == 0                       # everything was damaged: nothing could be served
    assert stats["by_kind"]["tts"]["misses"] == 2 and stats["by_kind"]["image"]["misses"] == 2
    log = (tmp_path / "worker.log").read_text()
    assert "is damaged" in log
    whole = []
    for file in (root / "objects").rglob("*.*"):
        digest = hashlib.sha256(file.read_bytes()).hexdigest()
        if digest == named_digest(file):
            whole.append(file)
        else:                                       # left by a key the job no longer asks for
            assert not index_too and damaged[file] == file.read_bytes(), file
    assert len(whole) == stats["misses"]            # each miss made one whole object, named by its bytes
    conn = sqlite3.connect(root / "index.sqlite")
    indexed = {key: (size, digest) for key, size, digest in conn.execute("SELECT key, size, digest FROM entries")}
    conn.close()
    for file in whole:
        assert indexed[file.name.split(".")[0]] == (file.stat().st_size, named_digest(file))
    if index_too:
        assert len(indexed) == len(whole)
        for file in damaged:
            if file.parent.parent.name == "objects":
                assert file.name in log             # each damaged object named in a warning
    else:
        assert stats["corrupt"] >= 4                # found as they were served: narration, pictures


# ---------------------------------------------------------------- a cache that cannot be used
def test_a_cache_folder_that_cannot_be_used_renders_without_the_cache(tmp_path, caplog):
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the cache folder should be")
    cache = new_cache(blocked)
    key = make_key("tts", text="no cache today")
    path = cache.get_or_create(key, ".wav", lambda tmp: tmp.write_bytes(b"made"))
    assert path.read_bytes() == b"made" and "without the cache" in caplog.text
    assert cache.stats()["unavailable"]
    cache.close()
    assert not path.exists()                 # a scratch file, removed with the job


def test_a_full_disk_while_indexing_leaves_no_half_entry(tmp_path, monkeypatch, caplog):
    root = tmp_path / "cache"
    cache = new_cache(root)

    def disk_full(*_args, **_kwargs):
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(cache.disk.index, "insert", disk_full)
    key = make_key("video", scene=0)
    path = cache.get_or_create(key, ".mp4", lambda tmp: tmp.write_bytes(b"piece" * 100))
    assert path.read_bytes() == b"piece" * 100            # the job keeps its piece
    assert not list((root / "objects").rglob("*.*"))       # no file without its row, no temp
    monkeypatch.undo()
    assert new_cache(root).get(key, ".mp4") is None        # and no entry


def test_a_full_disk_while_producing_falls_back_to_a_scratch_file(tmp_path):
    cache = new_cache(tmp_path / "cache")
    calls = []

    def produce(tmp: Path) -> None:
        calls.append(tmp)
        if len(calls) == 1:
            tmp.write_bytes(b"half")
            raise OSError(errno.ENOSPC, "No space left on device")
        tmp.write_bytes(b"whole")

    path = cache.get_or_create(make_key("tts", text="full"), ".wav", produce)
    assert path.read_bytes() == b"whole" and len(calls) == 2
    assert calls[0].parent.parent.name == "objects" and not calls[0].exists()
    assert new_cache(tmp_path / "cache").stats()["entries"] == 0


def test_a_producer_error_still_fails_the_job(tmp_path):
    cache = new_cache(tmp_path / "cache")

    def broken(tmp: Path) -> None:
        raise FileNotFoundError("ffmpeg not found")

    with pytest.raises(FileNotFoundError, match="ffmpeg"):
        cache.get_or_create(make_key("video", scene=1), ".mp4", broken)
    assert "unavailable" not in cache.stats()
