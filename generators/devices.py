"""Devices for the GPU providers: TTS_DEVICE / IMAGE_DEVICE -> torch device and dtype.

    device = resolve_device(settings.IMAGE_DEVICE, setting="IMAGE_DEVICE")  # "cuda:0", "cpu", "mps"
    dtype_name = default_dtype_name(device)                                  # "fp16"/"bf16"/"fp32"
    dtype = torch_dtype(dtype_name)

torch is imported lazily (only when a GPU provider asks), so the default
Piper / simple-background path never imports it.
"""
from __future__ import annotations

from jobmodel.errors import ProviderUnavailable

_DTYPES = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}


def _torch():
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - torch is installed with the GPU extras
        raise ProviderUnavailable(
            f"the GPU providers need torch (pip install -r requirements-gpu.txt): {exc}") from exc
    return torch


def _mps_available(torch) -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def resolve_device(value: str, setting: str = "IMAGE_DEVICE") -> str:
    """The torch device string for a setting value: auto, cpu, cuda, cuda:N or mps.

    auto picks CUDA when available (cuda:0), then MPS, else cpu. A device that is
    not on this machine raises ProviderUnavailable naming the setting.
    """
    text = (value or "auto").strip().lower()
    if text == "cpu":
        return "cpu"
    torch = _torch()
    if text == "auto":
        if torch.cuda.is_available():
            return "cuda:0"
        if _mps_available(torch):
            return "mps"
        return "cpu"
    if text == "mps":
        if not _mps_available(torch):
            raise ProviderUnavailable(f"{setting}=mps but this machine has no MPS device "
                                      f"(set {setting}=auto or cpu)", field=setting)
        return "mps"
    if text == "cuda" or text.startswith("cuda:"):
        index_text = text[5:] if text.startswith("cuda:") else "0"
        if not index_text.isdigit():
            raise ProviderUnavailable(f"{setting}={value!r} is not a device "
                                      f"(expected auto, cpu, cuda, cuda:N or mps)", field=setting)
        if not torch.cuda.is_available():
            raise ProviderUnavailable(f"{setting}={value} but CUDA is not available on this machine "
                                      f"(torch {torch.__version__}; set {setting}=auto or cpu)",
                                      field=setting)
        index = int(index_text)
        count = torch.cuda.device_count()
        if index >= count:
            raise ProviderUnavailable(f"{setting}={value} but this machine has {count} CUDA "
                                      f"device(s) (cuda:0..cuda:{count - 1})", field=setting)
        return f"cuda:{index}"
    raise ProviderUnavailable(f"{setting}={value!r} is not a device "
                              f"(expected auto, cpu, cuda, cuda:N or mps)", field=setting)


def default_dtype_name(device: str) -> str:
    """fp32 on CPU; on CUDA bf16 where the GPU supports it, else fp16; fp16 on MPS."""
    if device.startswith("cuda"):
        torch = _torch()
        try:
            with torch.cuda.device(device):
                if torch.cuda.is_bf16_supported():
                    return "bf16"
        except Exception:
            pass
        return "fp16"
    if device == "mps":
        return "fp16"
    return "fp32"


def torch_dtype(name: str):
    """torch.float32 / float16 / bfloat16 for "fp32" / "fp16" / "bf16"."""
    if name not in _DTYPES:
        raise ValueError(f"unknown dtype {name!r} (expected {', '.join(_DTYPES)})")
    return getattr(_torch(), _DTYPES[name])


def gpu_memory_mb(device: str) -> tuple[float, float] | None:
    """(free MB, total MB) of a CUDA device, or None for other devices."""
    if not device.startswith("cuda"):
        return None
    torch = _torch()
    free, total = torch.cuda.mem_get_info(torch.device(device))
    return free / 2**20, total / 2**20


def describe() -> dict:
    """What this machine offers: torch version, CUDA and its devices, MPS."""
    torch = _torch()
    info = {"torch": torch.__version__, "cuda_available": torch.cuda.is_available(),
            "cuda_version": torch.version.cuda, "mps_available": _mps_available(torch),
            "devices": []}
    if info["cuda_available"]:
        for index in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(index)
            info["devices"].append({"index": index, "name": props.name,
                                    "memory_mb": round(props.total_memory / 2**20),
                                    "capability": f"{props.major}.{props.minor}"})
    return info
