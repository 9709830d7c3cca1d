"""diffusers images (`image.provider: diffusers`): text-to-image on CUDA or the CPU.

The pipeline is `AutoPipelineForText2Image.from_pretrained(model, torch_dtype=...)`, loaded
once per (model, device, dtype) through the model registry and shared by every scene and
job. Model: the job's `image.model` (a hub id) when given, else DIFFUSERS_MODEL (a hub id
or a local folder). Requests that share model, size, steps, guidance and negative prompt
go to the pipeline as one batch, also across jobs: while the pipeline is busy, the requests
of other jobs (MAX_JOBS) that could share a call wait and go in together
(ModelRegistry.batched); every image gets its own seeded generator, so a fixed seed gives the
same picture whoever it was batched with. On a GPU short of memory the pipeline runs with attention
slicing, or with model CPU offload when `accelerate` is installed.
"""
from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import Any

from jobmodel.errors import JobFailed, JobInvalid, ProviderUnavailable, TransientError

from . import devices
from .images import ImageRequest
from .models import MODELS, ModelRegistry, free_gpu_memory

MAX_BATCH = 8            # images per pipeline call
OFFLOAD_BELOW_MB = 6000  # free GPU memory under which the model is CPU-offloaded
SLICING_BELOW_MB = 12000  # ... under which attention slicing is turned on
SIZE_MULTIPLE = 8        # Stable Diffusion needs sizes divisible by 8

_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?$")


def memory_plan(free_mb: float | None) -> str:
    """How to place a pipeline: "full", "slicing" or "offload" for free GPU MB (None = not a GPU)."""
    if free_mb is None:
        return "full"
    if free_mb < OFFLOAD_BELOW_MB:
        return "offload"
    if free_mb < SLICING_BELOW_MB:
        return "slicing"
    return "full"


def _round_up(value: int) -> int:
    return max(SIZE_MULTIPLE, -(-int(value) // SIZE_MULTIPLE) * SIZE_MULTIPLE)


def _dtype_argument() -> str:
    """`dtype` on diffusers that renamed it (torch_dtype is deprecated there), else `torch_dtype`."""
    try:
        from diffusers.utils import deprecation_utils
    except ImportError:
        return "torch_dtype"
    return "dtype" if hasattr(deprecation_utils, "_resolve_dtype") else "torch_dtype"


def _folder_fingerprint(folder: Path) -> str:
    """Cheap identity of a local model folder: names, sizes and mtimes of its files."""
    from cache.keys import make_key

    files = sorted((str(p.relative_to(folder)), p.stat().st_size, p.stat().st_mtime_ns)
                   for p in folder.rglob("*") if p.is_file())
    return make_key("diffusers-folder", files=files)


class DiffusersImageProvider:
    name = "diffusers"

    def __init__(self, settings, registry: ModelRegistry = MODELS):
        self.settings = settings
        self.registry = registry
        self.calls = 0  # pipeline calls made (one per batch)
        self._lock = threading.Lock()
        self._device: str | None = None
        self._dtype: str | None = None
        self._fingerprints: dict[str, str] = {}

    # -- model and device ---------------------------------------------------
    def device(self) -> tuple[str, str]:
        """(torch device, dtype name) from IMAGE_DEVICE, resolved once."""
        with self._lock:
            if self._device is None:
                self._device = devices.resolve_device(self.settings.IMAGE_DEVICE, "IMAGE_DEVICE")
                self._dtype = devices.default_dtype_name(self._device)
            return self._device, self._dtype

    def resolve_model(self, requested: str = "") -> str:
        """The model to load: the job's image.model (hub id) else DIFFUSERS_MODEL."""
        configured = (self.settings.DIFFUSERS_MODEL or "").strip()
        requested = (requested or "").strip()
        if requested and requested != configured:
            if not _HUB_ID.match(requested) or Path(requested).exists():
                raise JobInvalid("image.model", f"{requested!r} is not a hub model id such as "
                                 "'stabilityai/sd-turbo' (local model folders are set with the "
                                 "DIFFUSERS_MODEL setting)")
            return requested
        if not configured:
            raise ProviderUnavailable("image.provider 'diffusers' needs a model: set DIFFUSERS_MODEL "
                                      "to a hub id or a local pipeline folder", field="DIFFUSERS_MODEL")
        local = Path(configured).expanduser()
        if local.is_dir():
            return str(local.resolve())
        if configured.startswith((".", "/", "~")) or not _HUB_ID.match(configured):
            raise ProviderUnavailable(f"DIFFUSERS_MODEL={configured!r} is neither a folder on this "
                                      "machine nor a hub model id", field="DIFFUSERS_MODEL")
        return configured

    def _model_version(self, model: str) -> str:
        folder = Path(model)
        if not folder.is_dir():
            return "hub"
        with self._lock:
            if model not in self._fingerprints:
                self._fingerprints[model] = _folder_fingerprint(folder)
            return self._fingerprints[model]

    def model_key(self, model: str) -> tuple:
        device, dtype = self.device()
        return ("image", "diffusers", model, device, dtype)

    def _loader(self, model: str):
        device, dtype_name = self.device()

        def load():
            try:
                from diffusers import AutoPipelineForText2Image
            except ImportError as exc:
                raise ProviderUnavailable(
                    "image.provider 'diffusers' needs the diffusers and transformers packages "
                    f"(pip install -r requirements-gpu.txt): {exc}", field="image.provider") from exc
            configured = Path(self.settings.DIFFUSERS_MODEL or "").expanduser()
            from_setting = model in (self.settings.DIFFUSERS_MODEL, str(configured.resolve()))
            field = "DIFFUSERS_MODEL" if from_setting else "image.model"
            try:
                pipe = AutoPipelineForText2Image.from_pretrained(
                    model, **{_dtype_argument(): devices.torch_dtype(dtype_name)})
            except (OSError, ValueError) as exc:
                raise ProviderUnavailable(f"diffusers could not load model {model!r}: {exc}",
                                          field=field) from exc
            pipe.set_progress_bar_config(disable=True)
            self._place(pipe, device)
            return pipe
        return load

    @staticmethod
    def _place(pipe, device: str) -> None:
        free_mb = None
        if device.startswith("cuda"):
            free_mb = devices.gpu_memory_mb(device)[0]
        plan = memory_plan(free_mb)
        offloaded = False
        if plan == "offload":
            try:
                import accelerate  # noqa: F401  (enable_model_cpu_offload needs it)
                pipe.enable_model_cpu_offload(gpu_id=int(device.split(":")[1]) if ":" in device else 0)
                offloaded = True
            except ImportError:
                pass
        if not offloaded:
            pipe.to(device)
        if plan in ("offload", "slicing"):
            pipe.enable_attention_slicing()
            vae = getattr(pipe, "vae", None)
            if vae is not None and hasattr(vae, "enable_slicing"):
                vae.enable_slicing()
        pipe._protovideo_plan = plan

    # -- provider interface ---------------------------------------------------
    def identity(self, request: ImageRequest) -> dict:
        model = self.resolve_model(request.model)
        _device, dtype = self.device()
        return {"provider": self.name, "model": model, "model_version": self._model_version(model),
                "dtype": dtype, "prompt": request.prompt, "negative_prompt": request.negative_prompt,
                "steps": request.steps, "guidance_scale": request.guidance_scale,
                "seed": request.seed, "width": request.width, "height": request.height}

    def generate(self, requests: list[ImageRequest]) -> list[Any]:
        results: list[Any] = [None] * len(requests)
        groups: dict[tuple, list[int]] = {}
        for index, request in enumerate(requests):
            model = self.resolve_model(request.model)
            share = (model, request.width, request.height, request.steps,
                     request.guidance_scale, request.negative_prompt)
            groups.setdefault(share, []).append(index)
        for share, indexes in groups.items():
            for start in range(0, len(indexes), MAX_BATCH):
                batch = indexes[start:start + MAX_BATCH]
                images = self._run(share, [requests[i] for i in batch])
                for i, image in zip(batch, images):
                    results[i] = image
        return results

    def _run(self, share: tuple, batch: list[ImageRequest]) -> list[Any]:
        """The batch's pictures: one pipeline call, with other jobs' requests of the same
        `share` (model, size, steps, guidance, negative prompt) that wait meanwhile."""
        model = share[0]
        output = self.registry.batched(self.model_key(model), self._loader(model), share, batch,
                                       lambda pipe, requests: self._call(pipe, model, requests),
                                       MAX_BATCH)
        images = []
        for request, image in zip(batch, output):
            image = image.convert("RGB")
            if image.size != (request.width, request.height):
                image = image.resize((request.width, request.height))
            images.append(image)
        return images


    def _call(self, pipe, model: str, batch: list[ImageRequest]) -> list[Any]:
        """One pipeline call for requests that share everything but prompt and seed."""
        import torch

        first = batch[0]
        width, height = _round_up(first.width), _round_up(first.height)
        kwargs = dict(prompt=[r.prompt for r in batch], num_inference_steps=max(1, first.steps),
                      guidance_scale=first.guidance_scale, width=width, height=height)
        if first.negative_prompt and first.guidance_scale > 1:
            kwargs["negative_prompt"] = [first.negative_prompt] * len(batch)
        # CPU generators: the same seed gives the same latents on every device
        kwargs["generator"] = [torch.Generator("cpu").manual_seed(int(r.seed)) for r in batch]
        try:
            output = pipe(**kwargs)
        except torch.cuda.OutOfMemoryError as exc:
            free_gpu_memory()
            raise TransientError(f"the GPU ran out of memory generating {len(batch)} image(s) "
                                 f"at {width}x{height}: {exc}") from exc
        except (RuntimeError, ValueError) as exc:
            raise JobFailed(f"diffusers failed on model {model!r}: {exc}", field="image") from exc
        self.calls += 1
        return list(output.images)


def create_provider(settings) -> DiffusersImageProvider:
    return DiffusersImageProvider(settings)
