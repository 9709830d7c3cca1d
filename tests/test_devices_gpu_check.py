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


# ffmpeg's stderr on the lent H200 (2026-11-30), trimmed: the first from the shipped ffmpeg 9
# (driver 580 is too old for its NVENC API), the second from FFmpeg 8 (the H200 has no NVENC engine)
DRIVER_TOO_OLD = """\
[h264_nvenc @ 0x559c319bcf40] Loaded Nvenc version 13.0
[h264_nvenc @ 0x559c319bcf40] Driver does not support the required nvenc API version. Required: 13.1 Found: 13.0
[h264_nvenc @ 0x559c319bcf40] The minimum required Nvidia driver for nvenc is 610.00 or newer
[h264_nvenc @ 0x559c319bcf40] Nvenc unloaded
[vf#0:0 @ 0x559c319d8200] Task finished with error code: -38 (Function not implemented)
[vost#0:0/h264_nvenc @ 0x55f861f5ecc0] Terminating thread with return code -22 (Invalid argument)
[out#0/mp4 @ 0x55f861f5e7c0] Nothing was written into output file, because at least one of its streams received no packets.
"""
NO_ENGINE = """\
[h264_nvenc @ 0x1] OpenEncodeSessionEx failed: unsupported device (2): (no details)
[vost#0:0/h264_nvenc @ 0x2] Terminating thread with return code -22 (Invalid argument)
"""


def test_encoder_error_names_the_reason_not_ffmpegs_generic_lines():
    _encoder_error = _load_script()._encoder_error
    why = _encoder_error(DRIVER_TOO_OLD)
    assert "Required: 13.1 Found: 13.0" in why and "610.00" in why
    assert "Terminating thread" not in why and "Nothing was written" not in why
    assert _encoder_error(NO_ENGINE) == "OpenEncodeSessionEx failed: unsupported device (2): (no details)"
    # nothing telling: the last two lines, as before
    assert _encoder_error("a\nb\n[x @ 1] c\n") == "b / c"
