"""`main_worker.py --benchmark`: a tiny synthetic job through the real command (no timed assertions)."""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.benchmark_support import BenchShape, synthetic_job  # noqa: E402
from job_parsing import parse_job  # noqa: E402
from benchmarks.benchmark_support import EXAMPLES  # noqa: E402


def _env(tmp_path: Path, **extra) -> dict:
    env = dict(os.environ)
    env.update({
        "BENCH_WIDTH": "160", "BENCH_HEIGHT": "284", "BENCH_FPS": "12", "BENCH_PUBLISH_REPEATS": "1",
        "OUTPUT_DIR": str(tmp_path / "out"), "WORK_DIR": str(tmp_path / "work"),
        "CACHE_DIR": str(tmp_path / "user-cache"), "REPORT_DIR": str(tmp_path / "reports"),
        "SPOOL_DIR": str(tmp_path / "spool"), "LOG_FILE": str(tmp_path / "worker.log"),
    })
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("bench")
    proc = subprocess.run([sys.executable, str(ROOT / "main_worker.py"), "--benchmark", "--scenes=2", "--json"],
                          cwd=tmp_path, env=_env(tmp_path, BENCH_PAIRS="2"), capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return tmp_path, json.loads(proc.stdout), proc.stderr


def test_three_runs_and_sequential_are_reported(bench):
    _, result, _ = bench
    runs = result["runs"]
    assert set(runs) >= {"cold", "warm", "changed", "sequential"}
    for name in ("cold", "warm", "changed", "sequential"):
        run = runs[name]
        assert run["wall_s"] > 0
        assert run["steps"], name
        assert len(run["scenes"]) == 2
    assert runs["sequential"]["max_workers"] == 1
    assert runs["cold"]["max_workers"] >= 2
    assert result["job"]["width"] == 160 and result["job"]["height"] == 284 and result["job"]["fps"] == 12


def test_floor_ratio_and_parallel_speedup(bench):
    _, result, _ = bench
    floor = result["floor"]
    assert floor["seconds"] > 0
    # the floor encodes exactly the frames of the cold output (rendered again losslessly),
    # and the earlier floor on its decoded frames is kept beside it
    assert floor["frames"] == round(result["runs"]["cold"]["video_duration"] * 12)
    assert floor["decoded"]["frames"] == floor["frames"] and floor["decoded"]["cpu_s"] > 0
    assert "-preset" in floor["encoder_args"]
    ratios = result["ratios"]
    pairs = result["pairs"]   # BENCH_PAIRS=2: two cold runs, each followed by its floor
    assert len(pairs) == 2
    assert pairs[0]["cold_s"] == result["runs"]["cold"]["wall_s"] and pairs[0]["floor_s"] == floor["seconds"]
    for pair in pairs:
        assert pair["ratio"] == pytest.approx(pair["cold_s"] / pair["floor_s"], rel=1e-3)
        assert pair["ratio_decoded_cpu"] == pytest.approx(pair["cold_cpu_s"] / pair["floor_decoded_cpu_s"], rel=1e-3)
    assert ratios["cold_over_floor"] == pytest.approx(statistics.median(p["ratio"] for p in pairs), rel=1e-3)
    assert ratios["parallel_speedup"] == pytest.approx(
        result["runs"]["sequential"]["wall_s"] / result["runs"]["cold"]["wall_s"], rel=1e-3)
    assert set(result["targets"]) == {"cold_over_floor", "warm_over_cold", "changed_over_cold"}
    assert result["targets"]["cold_over_floor"]["limit"] == 1.2   # a small job: issue 16's 540x960 limit


def test_cold_floor_limit_follows_issue_16():
    from benchmarks.offline import cold_floor_limit
    assert cold_floor_limit(1080, 1920) == 1.1 and cold_floor_limit(1920, 1080) == 1.1
    assert cold_floor_limit(2160, 3840) == 1.1
    assert cold_floor_limit(540, 960) == 1.2 and cold_floor_limit(720, 1280) == 1.2


def test_warm_run_is_all_cache_hits(bench):
    _, result, _ = bench
    cold, warm = result["runs"]["cold"]["cache_stats"], result["runs"]["warm"]["cache_stats"]
    assert cold["misses"] > 0
    assert warm["hits"] > 0 and warm["misses"] == 0
    kinds = warm.get("by_kind", {})
    for kind in ("tts", "piece"):
        assert kinds.get(kind, {}).get("misses", 0) == 0, kind
        assert kinds.get(kind, {}).get("hits", 0) > 0, kind
    steps = result["runs"]["warm"]["steps"]
    assert "tts_synthesis" not in steps and "render_scene" not in steps


def test_changed_run_redoes_only_the_changed_scene(bench):
    _, result, _ = bench
    changed = result["runs"]["changed"]
    assert changed["cache_stats"]["by_kind"]["tts"]["misses"] == 1
    assert changed["cache_stats"]["hits"] > 0
    scene = result["job"]["changed_scene"]
    per_scene = {s["index"]: s["steps"] for s in changed["scenes"]}
    assert "tts_synthesis" in per_scene[scene]
    assert all("tts_synthesis" not in steps for i, steps in per_scene.items() if i != scene)


def test_json_and_png_written_beside_each_other(bench):
    tmp_path, result, stderr = bench
    json_path, png_path = Path(result["files"]["json"]), Path(result["files"]["png"])
    assert json_path.parent == png_path.parent == tmp_path / "out"
    assert json.loads(json_path.read_text())["ratios"] == result["ratios"]
    with Image.open(png_path) as im:
        im.load()
        assert im.format == "PNG" and im.width > 200 and im.height > 200
    assert str(json_path) in stderr and "cold/floor" in stderr   # the table went to stderr with --json
    # the benchmark used its own cache and removed its scratch folder
    assert not (tmp_path / "user-cache").exists() or not any((tmp_path / "user-cache").iterdir())
    assert not any((tmp_path / "work").glob("benchmark-*"))


@pytest.mark.parametrize("name, value", [("BENCH_WIDTH", "161"), ("BENCH_PAIRS", "0"), ("BENCH_PAIRS", "lots")])
def test_bad_setting_is_refused_naming_it(tmp_path, name, value):
    proc = subprocess.run([sys.executable, str(ROOT / "main_worker.py"), "--benchmark", "--scenes=1"],
                          cwd=tmp_path, env=_env(tmp_path, **{name: value}), capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2
    assert name in proc.stderr


def test_synthetic_job_is_a_valid_job_with_the_promised_features():
    data = synthetic_job(BenchShape(6, 160, 284, 12), "bench-x")
    job = parse_job(data, base_dir=EXAMPLES, asset_root=EXAMPLES)
    assert len(job.scenes) == 6
    assert job.music is not None and job.video.transition == "crossfade"
    assert len({s.motion for s in job.scenes}) >= 4
    assert all(s.subtitle and s.narration_text for s in job.scenes)
    assert any(s.text is not None for s in job.scenes)
    changed = synthetic_job(BenchShape(6, 160, 284, 12), "bench-x", changed_scene=3)
    differs = [i for i in range(6) if changed["scenes"][i] != data["scenes"][i]]
    assert differs == [3]


def test_quality_table_per_level(bench):
    """VMAF of each level against the job's lossless frames, encode CPU, size, x realtime."""
    _, result, stderr = bench
    quality = result["quality"]
    rows = quality["rows"]
    assert set(rows) == {"lossless (x264 -qp 0)", "draft", "standard", "high", "moviepy (medium CRF 23)"}
    # the reference itself: nothing scores above it (VMAF is not strictly monotone: a near-lossless
    # encode has been seen 0.01 above it)
    ceiling = rows["lossless (x264 -qp 0)"]["vmaf"]
    assert all(ceiling >= row["vmaf"] - 0.1 for row in rows.values())
    assert 0 < quality["ours_output_vmaf"] <= ceiling + 0.1
    for name, row in rows.items():
        assert 0 < row["vmaf"] <= 100, (name, row)
        assert row["cpu_s"] > 0 and row["bytes"] > 0 and row["x_realtime"] > 0, (name, row)
    assert rows["high"]["vmaf"] > rows["draft"]["vmaf"]      # a better level looks better
    assert rows["high"]["bytes"] > rows["draft"]["bytes"]
    job = result["job"]
    assert quality["frames"] == round(job["video_duration"] * job["fps"])   # the whole job, every frame once
    assert set(quality["targets"]) and "quality (" in stderr


def test_straightforward_moviepy_render_timed_and_scored(bench):
    """The same job the plain moviepy way at medium CRF 23: wall and CPU s, VMAF against its own
    lossless frames, and the whole-render speed-up of our cold render over it."""
    _, result, stderr = bench
    c = result["straightforward"]
    m, ours, cold = c["moviepy"], c["ours"], result["runs"]["cold"]
    assert m["encoder"] == {"preset": "medium", "crf": 23, "params": ""}
    assert m["wall_s"] > 0 and m["cpu_s"] > 0 and m["bytes"] > 0
    assert m["frames"] == m["reference_frames"]   # its timed and its lossless render align frame for frame
    assert abs(m["frames"] - m["video_duration"] * result["job"]["fps"]) <= 1
    assert 30 < m["vmaf"] <= 100
    assert ours["wall_s"] == cold["wall_s"] and ours["vmaf"] == result["quality"]["ours_output_vmaf"]
    assert c["speedup_wall"] == pytest.approx(m["wall_s"] / cold["wall_s"], rel=1e-3)
    assert c["speedup_cpu"] == pytest.approx(m["cpu_s"] / cold["cpu_s"], rel=1e-3)
    assert c["vmaf_ours_minus_moviepy"] == pytest.approx(ours["vmaf"] - m["vmaf"], abs=0.011)
    assert "straightforward moviepy render" in stderr


def test_moviepy_comparison_can_be_switched_off(tmp_path):
    proc = subprocess.run([sys.executable, str(ROOT / "main_worker.py"), "--benchmark", "--scenes=1", "--json"],
                          cwd=tmp_path, env=_env(tmp_path, BENCH_PAIRS="1", BENCH_MOVIEPY="0"),
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout)
    assert result["straightforward"] is None and result["quality"]["rows"]
    assert "straightforward moviepy render" not in proc.stderr
