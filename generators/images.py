"""Pictures: providers that turn prompts into PIL images, behind one interface.

    class ImageProvider:
        name: str
        def identity(self, request: ImageRequest) -> dict   # what goes into cache keys
        def generate(self, requests: list[ImageRequest]) -> list[PIL.Image.Image]
            # one RGB image per request, in order; requests that share settings
            # may be batched into one model call by the provider

`get_image_provider(name, settings)` creates each provider once per process.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from jobmodel.spec import ImageSpec

from .providers import ProviderTable

PROVIDER_MODULES = {
    "simple": "generators.images_simple",
    "diffusers": "generators.images_diffusers",
    "openai": "generators.images_openai",
}
_PROVIDERS = ProviderTable(PROVIDER_MODULES)


@dataclass(frozen=True)
class ImageRequest(ImageSpec):
    """One picture to make: the prompt, with the job's image settings (jobmodel.spec.ImageSpec:
    model, steps, guidance_scale, negative_prompt, seed, width, height; same defaults)."""

    prompt: str = ""


class ImageProvider(Protocol):
    name: str

    def identity(self, request: ImageRequest) -> dict: ...

    def generate(self, requests: list[ImageRequest]) -> list[Any]: ...


def get_image_provider(name: str, settings) -> ImageProvider:
    """The process-wide provider object for `name` (module.create_provider(settings))."""
    return _PROVIDERS.get(name, settings)
