"""Device settings: auto/cpu/cuda/cuda:N/mps -> a torch device, dtype per device, clear errors."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from generators import devices
from jobmodel.errors import ProviderUnavailable

ROOT = Path(__file__).resolve().parent.parent


def test_cpu_is_always_there_and_uses_fp32():
    assert devices.resolve_device("cpu", "TTS_DEVICE") == "cpu"
    assert devices.default_dtype_name("cpu") == "fp32"
    assert devices.torch_dtype("fp32") is torch.float32
    assert devices.torch_dtype("fp16") is torch.float16
    assert devices.torch_dtype("bf16") is torch.bfloat16


def test_auto_picks_cuda_when_there_is_one(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert devices.resolve_device("auto") == "cuda:0"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert devices.resolve_device("auto") == "cpu"


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
@pytest.mark.parametrize("value", ["cuda", "cuda:0", "cuda:3"])
def test_asking_for_cuda_without_it_names_the_setting(value):
    with pytest.raises(ProviderUnavailable) as caught:
        devices.resolve_device(value, "IMAGE_DEVICE")
    assert caught.value.field == "IMAGE_DEVICE"
    assert "IMAGE_DEVICE" in str(caught.value) and "CUDA is not available" in str(caught.value)


def test_a_cuda_index_beyond_the_devices_names_the_range(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert devices.resolve_device("cuda:1", "TTS_DEVICE") == "cuda:1"
    assert devices.resolve_device("cuda", "TTS_DEVICE") == "cuda:0"
    with pytest.raises(ProviderUnavailable) as caught:
        devices.resolve_device("cuda:2", "TTS_DEVICE")
    assert caught.value.field == "TTS_DEVICE"
    assert "2 CUDA device(s)" in str(caught.value)


def test_mps_without_mps_and_nonsense_values_are_refused(monkeypatch):
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    with pytest.raises(ProviderUnavailable) as caught:
        devices.resolve_device("mps", "TTS_DEVICE")
    assert caught.value.field == "TTS_DEVICE"
    with pytest.raises(ProviderUnavailable):
        devices.resolve_device("tpu", "IMAGE_DEVICE")
    with pytest.raises(ValueError):
        devices.torch_dtype("fp8")


def test_cuda_dtype_is_bf16_where_supported_else_fp16(monkeypatch):
    class _NoDevice:
        def __init__(self, _device):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    monkeypatch.setattr(torch.cuda, "device", _NoDevice)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: True)
    assert devices.default_dtype_name("cuda:0") == "bf16"
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: False)
    assert devices.default_dtype_name("cuda:0") == "fp16"
    assert devices.default_dtype_name("mps") == "fp16"


def test_describe_reports_this_machine():
    info = devices.describe()
    assert info["torch"] == torch.__version__
    assert info["cuda_available"] == torch.cuda.is_available()
    assert len(info["devices"]) == (torch.cuda.device_count() if info["cuda_available"] else 0)


def test_importing_the_device_module_does_not_import_torch():
    code = ("import sys; import generators.devices, generators.models; "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=str(ROOT))
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
