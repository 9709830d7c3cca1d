"""PerformanceOptimizer: per-step report, PERF lines in LOG_FILE, scene fan-out and failures."""
from __future__ import annotations

import gc
import json
import threading

import psutil
import pytest

from performance_optimizer import PerformanceOptimizer, SceneError
from protovideo.runtime.logs import setup_logging
from protovideo.pipeline.memory_watch import CRITICAL, WARNING, MemoryWatch

from perf_helpers import (STEP_LINE, TOTAL_LINE, fake_job,  # noqa: F401 - fixture
                          fresh_process_state, perf_lines, thresholds)


@pytest.fixture
def relaxed_watch():
    return MemoryWatch(thresholds())


def test_report_has_every_step_and_scene_with_plausible_numbers(make_settings, relaxed_watch):
    settings = make_settings()
    optimizer = PerformanceOptimizer(settings.path("CACHE_DIR"), 2, memory_watch=relaxed_watch)
    results = fake_job(optimizer, "job-report", scenes=3, pause=0.02)
    assert results == [f"scene-{i}-{256 * 1024}" for i in range(3)]
    report, path = optimizer.finish_job(settings.path("REPORT_DIR"),
                                        {"cache_stats": {"hits": 3, "misses": 1}, "output": "x.mp4"})

    assert path == settings.path("REPORT_DIR") / "job-report.json"
    on_disk = json.loads(path.read_text())
    assert on_disk == report
    assert [p.name for p in path.parent.iterdir()] == ["job-report.json"]   # no temp files left
    for key in ("job_id", "total_time", "peak_rss_mb", "cache_stats", "steps", "scenes"):
        assert key in on_disk
    assert on_disk["job_id"] == "job-report"
    assert on_disk["output"] == "x.mp4"
    assert on_disk["cache_stats"] == {"hits": 3, "misses": 1, "hit_rate": 0.75}

    steps = on_disk["steps"]
    assert set(steps) == {"parse", "tts", "image", "render_scene", "encode"}
    assert {name: s["count"] for name, s in steps.items()} == {
        "parse": 1, "tts": 3, "image": 3, "render_scene": 3, "encode": 1}
    machine_mb = psutil.virtual_memory().total / 2**20
    for name, step in steps.items():
        assert step["duration"] >= 0.02 * step["count"] * 0.9, name
        assert step["max"] <= step["duration"]
        assert step["duration"] < on_disk["total_time"] * 2    # scenes overlap, 2 threads
        assert 5 < step["memory_mb"] <= on_disk["peak_rss_mb"] < machine_mb
    assert on_disk["total_time"] >= steps["parse"]["duration"] + steps["encode"]["duration"]

    scenes = on_disk["scenes"]
    assert [s["index"] for s in scenes] == [0, 1, 2]
    for scene in scenes:
        assert set(scene["steps"]) == {"tts", "image", "render_scene"}
        assert all(s["count"] == 1 for s in scene["steps"].values())
        assert scene["duration"] == pytest.approx(sum(s["duration"] for s in scene["steps"].values()),
                                                  abs=1e-3)
        assert 5 < scene["peak_rss_mb"] <= on_disk["peak_rss_mb"]
    # per-scene durations add up to the job-level step totals
    for name in ("tts", "image", "render_scene"):
        assert sum(s["steps"][name]["duration"] for s in scenes) == pytest.approx(
            steps[name]["duration"], abs=1e-3)


def test_perf_lines_in_log_file_for_every_step_and_the_job(make_settings, relaxed_watch,
                                                            fresh_process_state):
    settings = make_settings()
    setup_logging(settings, console=False)
    optimizer = PerformanceOptimizer(settings.path("CACHE_DIR"), 2, memory_watch=relaxed_watch)
    fake_job(optimizer, "job-perf", scenes=2)
    report, _ = optimizer.finish_job(settings.path("REPORT_DIR"), {"cache_stats": {"hits": 1, "misses": 3}})

    lines = perf_lines(settings.path("LOG_FILE"))
    steps = [STEP_LINE.search(line) for line in lines if " step=" in line]
    assert all(steps), lines
    assert sorted((m["step"], m["scene"]) for m in steps) == sorted(
        [("parse", None), ("encode", None)]
        + [(name, str(i)) for i in range(2) for name in ("tts", "image", "render_scene")])
    assert {m["job"] for m in steps} == {"job-perf"}
    assert all(float(m["rss"]) > 5 for m in steps)
    totals = [TOTAL_LINE.search(line) for line in lines if " total=" in line]
    assert len(totals) == 1 and totals[0]
    assert totals[0]["job"] == "job-perf"
    assert float(totals[0]["total"]) == pytest.approx(report["total_time"], abs=1e-3)
    assert float(totals[0]["peak"]) == pytest.approx(report["peak_rss_mb"], abs=0.1)
    assert float(totals[0]["rate"]) == 0.25


def test_sequential_jobs_in_one_process_keep_their_own_lines(make_settings, relaxed_watch,
                                                             fresh_process_state):
    settings = make_settings()
    setup_logging(settings, console=False)
    for job in ("job-a", "job-b"):
        optimizer = PerformanceOptimizer(None, 2, memory_watch=relaxed_watch)
        fake_job(optimizer, job, scenes=2, pause=0.0)
        report, _ = optimizer.finish_job(settings.path("REPORT_DIR"))
        assert report["steps"]["tts"]["count"] == 2   # nothing carried over from the job before
    lines = perf_lines(settings.path("LOG_FILE"))
    for job in ("job-a", "job-b"):
        assert sum(f"job={job} step=" in line for line in lines) == 8
        assert sum(f"job={job} total=" in line for line in lines) == 1
    assert {p.name for p in settings.path("REPORT_DIR").iterdir()} == {"job-a.json", "job-b.json"}


def test_failing_scene_is_reported_with_its_index_after_the_others_finish(relaxed_watch):
    optimizer = PerformanceOptimizer(None, 2, memory_watch=relaxed_watch)
    finished = []
    lock = threading.Lock()

    def scene(i):
        if i in (2, 4):
            raise RuntimeError(f"boom {i}")
        with optimizer.monitor_performance("render_scene", scene=i):
            pass
        with lock:
            finished.append(i)
        return i

    optimizer.start_performance_monitoring("job-fail")
    with pytest.raises(SceneError) as info:
        optimizer.parallel_process_scenes(scene, range(6))
    assert info.value.index == 2
    assert str(info.value.error) == "boom 2"
    assert "scene 2" in str(info.value)
    assert [i for i, _ in info.value.errors] == [2, 4]
    assert sorted(finished) == [0, 1, 3, 5]
    report = optimizer.get_performance_report()
    assert [s["index"] for s in report["scenes"]] == [0, 1, 3, 5]


def test_failed_step_is_recorded_and_the_error_passes_through(relaxed_watch, make_settings):
    optimizer = PerformanceOptimizer(None, 1, memory_watch=relaxed_watch)
    optimizer.start_performance_monitoring("job-x")

    @optimizer.monitor_performance("download")
    def download():
        raise OSError("host unreachable")

    with pytest.raises(OSError):
        download()
    download_ok = optimizer.monitor_performance("download")(lambda: 7)
    assert download_ok() == 7
    step = optimizer.get_performance_report()["steps"]["download"]
    assert step["count"] == 2 and step["errors"] == 1


def test_scene_results_come_back_in_scene_order(relaxed_watch):
    import time
    optimizer = PerformanceOptimizer(None, 3, memory_watch=relaxed_watch)
    assert optimizer.parallel_process_scenes(lambda i: (time.sleep(0.01 * (5 - i)), i)[1],
                                             range(5)) == [0, 1, 2, 3, 4]
    assert optimizer.parallel_process_scenes(lambda i: i, []) == []


def test_report_file_name_must_be_a_safe_job_id(tmp_path, relaxed_watch):
    optimizer = PerformanceOptimizer(None, 1, memory_watch=relaxed_watch)
    optimizer.start_performance_monitoring("../escape")
    with pytest.raises(ValueError, match="job id"):
        optimizer.finish_job(tmp_path / "reports")
    assert not (tmp_path / "escape.json").exists()


def test_attached_cache_gives_the_jobs_own_statistics(make_settings, relaxed_watch):
    from cache import open_cache
    settings = make_settings()
    cache = open_cache(settings)

    def produce(path):
        path.write_bytes(b"data")

    cache.get_or_create("a" * 32, ".bin", produce)          # before the job: not counted
    optimizer = PerformanceOptimizer(None, 1, memory_watch=relaxed_watch)
    optimizer.attach_cache(cache)
    optimizer.start_performance_monitoring("job-cache")
    cache.get_or_create("a" * 32, ".bin", produce)          # hit
    cache.get_or_create("b" * 32, ".bin", produce)          # miss
    report, _ = optimizer.finish_job(settings.path("REPORT_DIR"))
    assert (report["cache_stats"]["hits"], report["cache_stats"]["misses"]) == (1, 1)
    assert report["cache_stats"]["hit_rate"] == 0.5


class Node:
    """A reference cycle: only the garbage collector frees it."""

    def __init__(self):
        self.me = self


def test_optimize_memory_collects_garbage_and_trims_the_heap(relaxed_watch):
    optimizer = PerformanceOptimizer(None, 2, memory_watch=relaxed_watch)
    assert 5 < optimizer.rss_mb() < psutil.virtual_memory().total / 2**20
    gc.collect()
    gc.disable()   # the cycles below stay until optimize_memory collects them
    try:
        for _ in range(2000):
            Node()
        done = optimizer.optimize_memory(WARNING)
        assert gc.collect() == 0   # nothing left for a second collection
    finally:
        gc.enable()
    assert done["gc_objects"] >= 2000       # every Node found by this collection
    assert done["trimmed"] is True          # glibc: malloc_trim ran
    # after a job (the default level) only the heap is trimmed: no collection pause
    assert optimizer.optimize_memory() == {"trimmed": True}


def test_critical_optimize_memory_drops_the_attached_caches_memory_level(make_settings,
                                                                         relaxed_watch):
    from cache import open_cache
    cache = open_cache(make_settings())
    cache.get_or_create("c" * 32, ".bin", lambda path: path.write_bytes(b"data"))
    assert len(cache.memory) > 0                       # a verified entry is remembered
    optimizer = PerformanceOptimizer(None, 4, memory_watch=relaxed_watch)
    optimizer.attach_cache(cache)
    done = optimizer.optimize_memory(CRITICAL)
    assert len(cache.memory) == 0 and done["cache_hooks"] == 1
    assert optimizer.effective_max_workers == 1        # scene parallelism lowered


def test_the_jobs_of_one_runtime_share_its_watch_and_metrics(make_settings):
    from protovideo.pipeline.render import make_context
    from protovideo.pipeline.runtime import Runtime
    runtime, other = Runtime.create(make_settings()), Runtime.create(make_settings())
    a, b, c = make_context(runtime), make_context(runtime), make_context(other)
    assert a.optimizer.memory_watch is b.optimizer.memory_watch is runtime.memory
    assert a.optimizer.metrics is b.optimizer.metrics is runtime.metrics
    assert c.optimizer.memory_watch is other.memory and other.memory is not runtime.memory
    for ctx in (a, b, c):
        ctx.cache.close()


def test_picture_assets_are_fetched_side_by_side_through_parallel_process_scenes(relaxed_watch):
    """The pipeline's picture making fans its asset scenes out through the optimizer:
    two fetches must run at once (the barrier needs both), a failed scene is reported
    with its own index after the others were handed over."""
    from generators.pictures import make_pictures
    from job_parsing import parse_job

    job = parse_job({"id": "assets", "video": {"width": 270, "height": 480, "fps": 12},
                     "scenes": [{"duration": 1, "image": f"https://example.com/{i}.png"}
                                for i in range(3)]})
    optimizer = PerformanceOptimizer(None, 2, memory_watch=relaxed_watch)
    calls = []
    optimizer.parallel_process_scenes = (lambda fn, items, **kw: calls.append(len(items))
                                         or PerformanceOptimizer.parallel_process_scenes(
                                             optimizer, fn, items, **kw))
    both = threading.Barrier(2, timeout=30)
    ready = {}

    def fetch(ref, ctx):
        if ref.url.endswith("2.png"):
            raise RuntimeError("asset 2 is broken")
        both.wait()                      # scenes 0 and 1 are fetched at the same time
        return ref.url

    ctx = type("Ctx", (), {"optimizer": optimizer, "settings": None})()
    with pytest.raises(SceneError) as info:
        make_pictures(job, ctx, fetch, lambda i, picture, files=(): ready.update({i: picture}))
    assert calls == [3]
    assert info.value.index == 2 and "broken" in str(info.value.error)
    assert ready == {0: "https://example.com/0.png", 1: "https://example.com/1.png"}


def test_every_scene_is_listed_even_when_it_recorded_no_step(relaxed_watch, tmp_path):
    optimizer = PerformanceOptimizer(None, 1, memory_watch=relaxed_watch)
    optimizer.start_performance_monitoring("job-cached", scenes=3)
    optimizer.record_step("render_scene", 0.2, scene=1)
    report, _ = optimizer.finish_job(tmp_path)
    assert [s["index"] for s in report["scenes"]] == [0, 1, 2]
    assert report["scenes"][0] == {"index": 0, "duration": 0.0, "peak_rss_mb": None, "steps": {}}
    assert report["scenes"][1]["steps"]["render_scene"]["duration"] == 0.2
