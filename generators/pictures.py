"""Each scene's picture: an image asset, a generated image (batched, cached) or a simple background.

`make_pictures(job, ctx, fetch, room)` -> (pictures, videos): per scene, the local
path of its still picture (image scenes) or of its clip (video scenes).
"""
from __future__ import annotations

from pathlib import Path

from cache import make_key

from .images import ImageRequest, get_image_provider


def _request(job, scene, room: float) -> tuple[str, ImageRequest]:
    spec = job.image
    prompt = scene.image_prompt.strip()
    if spec.provider == "simple" or not prompt:
        # simple backgrounds are made at the frame size (with room for the camera move)
        seed_text = prompt or scene.narration_text or f"{job.id}:{scene.index}"
        width = int(round(job.video.width * room)) // 2 * 2
        height = int(round(job.video.height * room)) // 2 * 2
        return "simple", ImageRequest(prompt=seed_text, width=width, height=height)
    return spec.provider, ImageRequest(prompt=prompt, width=spec.width, height=spec.height,
                                       negative_prompt=spec.negative_prompt, steps=spec.steps,
                                       guidance_scale=spec.guidance_scale, seed=spec.seed + scene.index,
                                       model=spec.model)


def _generate(provider_name: str, wanted: list[tuple[int, ImageRequest]], ctx) -> dict[int, Path]:
    """Generate the pictures of several scenes, one provider call for all cache misses."""
    provider = get_image_provider(provider_name, ctx.settings)
    keys = {i: make_key("image", **provider.identity(req)) for i, req in wanted}
    paths: dict[int, Path] = {}
    missing = []
    for i, req in wanted:
        hit = _lookup(ctx, keys[i])
        if hit is not None:
            paths[i] = hit
        else:
            missing.append((i, req))
    step = "image_generation" if provider_name != "simple" else "simple_background"
    batch = max(1, int(getattr(provider, "max_batch", 8)))
    for first in range(0, len(missing), batch):  # bounded batches: pictures are saved as they come
        chunk = missing[first:first + batch]
        ctx.check_cancelled()
        with ctx.optimizer.monitor_performance(step):
            images = provider.generate([req for _, req in chunk])
        for (i, _req), image in zip(chunk, images):
            paths[i] = ctx.cache.get_or_create(keys[i], ".png", lambda tmp, im=image: im.save(tmp, "PNG"))
        del images
    return paths


def _lookup(ctx, key: str) -> Path | None:
    """The cached picture for key (counted as a hit), or None: then it is generated with the others."""
    return ctx.cache.get(key, ".png") if ctx.cache.contains(key, ".png") else None


def make_pictures(job, ctx, fetch, room: float) -> tuple[list[Path | None], list[Path | None]]:
    pictures: list[Path | None] = [None] * len(job.scenes)
    videos: list[Path | None] = [None] * len(job.scenes)
    by_provider: dict[str, list[tuple[int, ImageRequest]]] = {}
    for scene in job.scenes:
        if scene.type == "video":
            with ctx.optimizer.monitor_performance("fetch_assets", scene.index):
                videos[scene.index] = fetch(scene.video, ctx)
        elif scene.image is not None:
            with ctx.optimizer.monitor_performance("fetch_assets", scene.index):
                pictures[scene.index] = fetch(scene.image, ctx)
        else:
            name, request = _request(job, scene, room)
            by_provider.setdefault(name, []).append((scene.index, request))
    for name, wanted in by_provider.items():
        for i, path in _generate(name, wanted, ctx).items():
            pictures[i] = path
    return pictures, videos
