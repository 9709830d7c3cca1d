"""GPU check for a worker machine: what the GPU providers will use, and how fast it is.

    python benchmarks/gpu_check.py [--record] [--steps N] [--size PX] [--json]

Prints torch / CUDA information, the devices TTS_DEVICE / IMAGE_DEVICE=auto resolve to and
their dtypes, the timing of a tiny random Stable Diffusion pipeline (built locally, no
download) on the CPU and, when there is one, on CUDA in fp16/bf16 - loaded through the
worker's diffusers provider and model registry -, whether the ffmpeg shipped by
imageio-ffmpeg has NVENC (and a small NVENC encode when it has), and a small x264
encode with all cores. Runs on a CPU-only machine too (it then reports no CUDA).
--record appends the figures to benchmarks/RESULTS.md.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

RESULTS = ROOT / "benchmarks" / "RESULTS.md"


def torch_info() -> dict:
    from generators import devices
    info = devices.describe()
    info["auto_device"] = devices.resolve_device("auto", "IMAGE_DEVICE")
    info["auto_dtype"] = devices.default_dtype_name(info["auto_device"])
    return info


def time_pipeline(model_dir: Path, device_setting: str, steps: int, size: int, batch: int) -> dict:
    """Load the tiny pipeline through the provider on one device; time load, first and warm runs."""
    from generators.images import ImageRequest
    from generators.images_diffusers import DiffusersImageProvider
    from generators.models import ModelRegistry
    from protovideo.runtime.settings import load_settings

    settings = load_settings({"DIFFUSERS_MODEL": str(model_dir), "IMAGE_DEVICE": device_setting},
                             read_files=False)
    provider = DiffusersImageProvider(settings, registry=ModelRegistry())
    device, dtype = provider.device()
    requests = [ImageRequest(prompt=f"benchmark picture {i}", width=size, height=size,
                             steps=steps, seed=i) for i in range(batch)]
    started = time.perf_counter()
    provider.registry.get(provider.model_key(provider.resolve_model("")),
                          provider._loader(provider.resolve_model("")))
    load_s = time.perf_counter() - started
    started = time.perf_counter()
    provider.generate(requests[:1])
    first_s = time.perf_counter() - started
    _sync(device)
    started = time.perf_counter()
    images = provider.generate(requests)
    _sync(device)
    warm_s = time.perf_counter() - started
    again = provider.generate(requests[:1])[0]
    deterministic = again.tobytes() == images[0].tobytes()
    result = {"device": device, "dtype": dtype, "load_s": round(load_s, 3),
              "first_image_s": round(first_s, 3), "batch": batch,
              "batch_s": round(warm_s, 3), "images_per_s": round(batch / warm_s, 2),
              "deterministic": deterministic}
    provider.registry.unload_all()
    return result


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        import torch
        torch.cuda.synchronize()


def ffmpeg_check(seconds: float) -> dict:
    import imageio_ffmpeg
    exe = imageio_ffmpeg.get_ffmpeg_exe()
    listing = subprocess.run([exe, "-hide_banner", "-encoders"], capture_output=True, text=True,
                             timeout=60).stdout
    nvenc = sorted({line.split()[1] for line in listing.splitlines()
                    if "nvenc" in line and len(line.split()) > 1})
    result = {"ffmpeg": exe, "nvenc_encoders": nvenc, "cores": os.cpu_count(),
              "nvml_encoder_capacity": nvml_encoder_capacity()}
    result["x264"] = _encode(exe, ["-c:v", "libx264", "-preset", "veryfast", "-threads", "0"], seconds)
    if "h264_nvenc" in nvenc:
        result["h264_nvenc"] = _encode(exe, ["-c:v", "h264_nvenc", "-preset", "p4"], seconds)
    return result


def nvml_encoder_capacity() -> dict | str:
    """What the driver (NVML) says of the first GPU's H.264/HEVC encoder, as a percentage.

    Not proof of an encoder: an H200 answers 100 while opening an NVENC session on it fails
    with "unsupported device" (no NVENC engine). Only the encode below settles it."""
    try:
        import pynvml
        pynvml.nvmlInit()
    except Exception as exc:   # no nvidia-ml-py, no driver
        return f"unavailable ({type(exc).__name__})"
    handle = pynvml.nvmlDeviceGetHandleByIndex(0)
    found = {}
    for name in ("H264", "HEVC", "AV1"):
        query = getattr(pynvml, f"NVML_ENCODER_QUERY_{name}", None)
        if query is None:
            continue
        try:
            found[name] = pynvml.nvmlDeviceGetEncoderCapacity(handle, query)
        except pynvml.NVMLError as exc:
            found[name] = str(exc)
    return found


def _encode(exe: str, codec: list[str], seconds: float) -> dict:
    """Encode `seconds` of a 1080x1920 30 fps test pattern; the wall time and speed."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "check.mp4"
        cmd = [exe, "-hide_banner", "-loglevel", "verbose", "-y", "-f", "lavfi", "-i",
               f"testsrc2=size=1080x1920:rate=30:duration={seconds}", *codec,
               "-pix_fmt", "yuv420p", str(out)]
        started = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        wall = time.perf_counter() - started
        if done.returncode != 0:
            return {"ok": False, "error": _encoder_error(done.stderr) or f"exit {done.returncode}"}
        return {"ok": True, "seconds_of_video": seconds, "wall_s": round(wall, 3),
                "realtime_x": round(seconds / wall, 2), "bytes": out.stat().st_size}


def _encoder_error(stderr: str) -> str:
    """The lines that say why an encoder would not open (the driver's API version, an unsupported
    device), not ffmpeg's generic "Terminating thread" lines that follow them."""
    lines = [line.split("] ", 1)[-1].strip() for line in stderr.splitlines() if line.strip()]
    telling = [line for line in lines
               if any(key in line for key in ("Driver", "driver", "OpenEncodeSession", "No capable",
                                              "Cannot load", "not support", "Error while opening"))]
    return " / ".join(dict.fromkeys(telling or lines[-2:]))[-400:]


def run_checks(steps: int, size: int, batch: int, encode_seconds: float) -> dict:
    from tests.tiny_models import build_tiny_sd_pipeline

    report: dict = {"when": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                    "host": platform.node(), "python": platform.python_version()}
    report["torch"] = torch_info()
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = build_tiny_sd_pipeline(Path(tmp) / "tiny-sd")
        report["pipeline"] = {"cpu": time_pipeline(model_dir, "cpu", steps, size, batch)}
        if report["torch"]["cuda_available"]:
            report["pipeline"]["cuda"] = time_pipeline(model_dir, "cuda", steps, size, batch)
    report["ffmpeg"] = ffmpeg_check(encode_seconds)
    return report


def as_markdown(report: dict, args) -> str:
    t = report["torch"]
    gpus = ", ".join(f"{d['name']} ({d['memory_mb']} MB, sm {d['capability']})" for d in t["devices"]) or "none"
    lines = [f"## GPU check - {report['when']} on {report['host']}", "",
             f"- torch {t['torch']}, CUDA available: {t['cuda_available']} (CUDA {t['cuda_version']}), "
             f"GPUs: {gpus}; auto -> {t['auto_device']} {t['auto_dtype']}",
             f"- tiny SD pipeline, {args.size}x{args.size}, {args.steps} steps, batch {args.batch}:"]
    for name, p in report["pipeline"].items():
        lines.append(f"  - {name} ({p['device']}, {p['dtype']}): load {p['load_s']} s, first image "
                     f"{p['first_image_s']} s, batch {p['batch_s']} s ({p['images_per_s']} images/s), "
                     f"deterministic: {p['deterministic']}")
    f = report["ffmpeg"]
    lines.append(f"- ffmpeg NVENC encoders: {', '.join(f['nvenc_encoders']) or 'none'}; "
                 f"NVML encoder capacity: {f.get('nvml_encoder_capacity')}")
    for codec in ("x264", "h264_nvenc"):
        if codec in f:
            e = f[codec]
            lines.append(f"  - {codec} 1080x1920 30 fps {args.encode_seconds:g} s: " +
                         (f"{e['wall_s']} s wall, {e['realtime_x']}x realtime ({f['cores']} cores)"
                          if e["ok"] else f"failed: {e['error']}"))
    return "\n".join(lines) + "\n"


def main(argv=None, results: Path = RESULTS) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--record", action="store_true", help="append the figures to benchmarks/RESULTS.md")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--size", type=int, default=64, help="image side in pixels (multiple of 8)")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--encode-seconds", type=float, default=2.0)
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    report = run_checks(args.steps, args.size, args.batch, args.encode_seconds)
    text = as_markdown(report, args)
    print(json.dumps(report, indent=2) if args.json else text)
    if args.record:
        with open(results, "a", encoding="utf-8") as out:
            if out.tell() == 0:
                out.write("# Benchmark results\n\n")
            out.write(text + "\n")
        print(f"recorded in {results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
