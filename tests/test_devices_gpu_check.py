"""benchmarks/gpu_check.py runs on a CPU-only machine too and records its figures."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent


def _load_script():
    spec = importlib.util.spec_from_file_location("gpu_check", ROOT / "benchmarks" / "gpu_check.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_gpu_check_reports_devices_pipeline_and_encoders_and_records_them(tmp_path, capsys):
    gpu_check = _load_script()
    results = tmp_path / "RESULTS.md"
    code = gpu_check.main(["--record", "--size", "16", "--steps", "1", "--batch", "2",
                           "--encode-seconds", "0.2"], results=results)
    assert code == 0
    text = results.read_text()
    assert text.startswith("# Benchmark results")
    assert f"torch {torch.__version__}, CUDA available: {torch.cuda.is_available()}" in text
    assert "cpu (cpu, fp32): load" in text and "deterministic: True" in text
    assert ("cuda (cuda:0" in text) == torch.cuda.is_available()
    assert "ffmpeg NVENC encoders:" in text and "x264 1080x1920 30 fps 0.2 s:" in text
    assert "recorded in" in capsys.readouterr().out
