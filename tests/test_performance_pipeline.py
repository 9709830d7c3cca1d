"""A real tiny render: its report and the PERF lines in LOG_FILE (make_context / render_job)."""
from __future__ import annotations

import collections
import json

import pytest

from job_parsing import parse_job
from protovideo.runtime.logs import setup_logging
from protovideo.pipeline.render import make_context, render_job

from perf_helpers import STEP_LINE, TOTAL_LINE, fresh_process_state, perf_lines  # noqa: F401

HUGE = 10**7


def tiny_job(job_id: str, base_dir):
    return parse_job({
        "id": job_id,
        "video": {"width": 160, "height": 284, "fps": 12},
        "scenes": [
            {"narration_text": "Hello there.", "text": {"content": "One"}, "subtitle": True},
            {"duration": 1, "text": {"content": "Two"}},
        ]}, base_dir=base_dir)


def test_two_renders_leave_reports_and_perf_lines(make_settings, tmp_path, fresh_process_state):
    settings = make_settings(MEMORY_WARNING_THRESHOLD=HUGE, MEMORY_CRITICAL_THRESHOLD=HUGE)
    setup_logging(settings, console=False)
    results = [render_job(tiny_job(job_id, tmp_path), make_context(settings))
               for job_id in ("tiny-a", "tiny-b")]   # same content: the second hits the cache

    lines = perf_lines(settings.path("LOG_FILE"))
    for result, job_id in zip(results, ("tiny-a", "tiny-b")):
        assert result.report_path == settings.path("REPORT_DIR") / f"{job_id}.json"
        report = json.loads(result.report_path.read_text())
        for key in ("job_id", "total_time", "peak_rss_mb", "cache_stats", "steps", "scenes"):
            assert key in report, key
        assert report["job_id"] == job_id
        assert [s["index"] for s in report["scenes"]] == [0, 1]
        if job_id == "tiny-a":   # cold cache: every scene did its own work
            assert all(s["steps"] and s["duration"] > 0 for s in report["scenes"])
        assert 0 < report["total_time"] < 600
        assert 20 < report["peak_rss_mb"] < 100_000
        for name, step in report["steps"].items():
            assert step["count"] >= 1 and 0 <= step["max"] <= step["duration"] <= report["total_time"], name
            assert 0 < step["memory_mb"] <= report["peak_rss_mb"], name
        stats = report["cache_stats"]
        assert stats["hit_rate"] == pytest.approx(stats["hits"] / (stats["hits"] + stats["misses"]),
                                                  abs=1e-3)

        # one PERF line per recorded step run, then the job's total line
        mine = [line for line in lines if f"PERF job={job_id} " in line]
        steps = [STEP_LINE.search(line) for line in mine if " step=" in line]
        assert all(steps), mine
        assert collections.Counter(m["step"] for m in steps) == {
            name: step["count"] for name, step in report["steps"].items()}
        per_scene = collections.Counter((m["step"], int(m["scene"])) for m in steps if m["scene"])
        assert per_scene == {(name, s["index"]): step["count"]
                             for s in report["scenes"] for name, step in s["steps"].items()}
        [total] = [TOTAL_LINE.search(line) for line in mine if " total=" in line]
        assert total and float(total["total"]) == pytest.approx(report["total_time"], abs=1e-3)
        assert float(total["rate"]) == pytest.approx(stats["hit_rate"], abs=1e-4)
        assert " total=" in mine[-1]   # the job's line comes after all of its steps

    first, second = (json.loads(r.report_path.read_text())["cache_stats"] for r in results)
    assert first["hits"] == 0 and second["hits"] > 0
    assert results[1].output.stat().st_size > 1000
