"""Each scene's picture: an image asset, a generated image (batched, cached) or a simple background.

`make_pictures(job, ctx, fetch, room, ready)` calls `ready(index, picture, video)` for
each scene as soon as its still picture (image scenes) or clip (video scenes) is a local
file, so the renderer can start on scene 0 while later pictures are still being made
(`PictureBoard` collects them across threads).
"""
from __future__ import annotations

import threading
from dataclasses import asdict
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
    # the job's image settings, one seed per scene
    return spec.provider, ImageRequest(**{**asdict(spec), "prompt": prompt, "seed": spec.seed + scene.index})


# generated pictures are cache files read back once per render: fast zlib, not small files
PNG_OPTIONS = {"format": "PNG", "compress_level": 1}


def _generate(provider_name: str, wanted: list[tuple[int, ImageRequest]], ctx, ready) -> None:
    """Generate the pictures of several scenes, one provider call for all cache misses."""
    provider = get_image_provider(provider_name, ctx.settings)
    keys = {i: make_key("image", **provider.identity(req)) for i, req in wanted}
    missing = []
    for i, req in wanted:
        hit = _lookup(ctx, keys[i])
        if hit is not None:
            ready(i, hit, None)
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
            ready(i, ctx.cache.get_or_create(keys[i], ".png", lambda tmp, im=image: im.save(tmp, **PNG_OPTIONS)),
                  None)
        del images


def _lookup(ctx, key: str) -> Path | None:
    """The cached picture for key (counted as a hit), or None: then it is generated with the others."""
    return ctx.cache.get(key, ".png") if ctx.cache.contains(key, ".png") else None


def make_pictures(job, ctx, fetch, room: float, ready) -> None:
    """Asset scenes first, fetched side by side through the optimizer's scene fan-out
    (`parallel_process_scenes`: a failed scene raises SceneError with its index once
    the others are done; fewer at once while memory is critical); then the generated
    pictures, one provider call per batch of scenes."""

    def fetch_scene(scene) -> None:
        if scene.type == "video":
            with ctx.optimizer.monitor_performance("fetch_assets", scene.index):
                video = fetch(scene.video, ctx)
            ready(scene.index, None, video)
        elif scene.image is not None:
            with ctx.optimizer.monitor_performance("fetch_assets", scene.index):
                picture = fetch(scene.image, ctx)
            ready(scene.index, picture, None)

    by_provider: dict[str, list[tuple[int, ImageRequest]]] = {}
    for scene in job.scenes:
        if scene.type != "video" and scene.image is None:
            name, request = _request(job, scene, room)
            by_provider.setdefault(name, []).append((scene.index, request))
    if any(s.type == "video" or s.image is not None for s in job.scenes):
        ctx.optimizer.parallel_process_scenes(fetch_scene, job.scenes)   # item i is scene i
    for name, wanted in by_provider.items():
        _generate(name, wanted, ctx, ready)


class PictureBoard:
    """Each scene's (picture, video) as make_pictures reports it from another thread."""

    def __init__(self):
        self._cond = threading.Condition()
        self._ready: dict[int, tuple[Path | None, Path | None]] = {}
        self._ended = False
        self._error: BaseException | None = None

    def put(self, index: int, picture: Path | None, video: Path | None) -> None:
        with self._cond:
            self._ready[index] = (picture, video)
            self._cond.notify_all()

    def end(self, error: BaseException | None = None) -> None:
        """make_pictures returned (or raised `error`): nothing more will come."""
        with self._cond:
            self._ended, self._error = True, error
            self._cond.notify_all()

    def get(self, index: int) -> tuple[Path | None, Path | None]:
        """Wait for scene `index`; raises what make_pictures raised if it failed first."""
        with self._cond:
            self._cond.wait_for(lambda: index in self._ready or self._ended)
            if index in self._ready:
                return self._ready[index]
            if self._error is not None:
                raise self._error
            return None, None

    def fill(self, job, ctx, fetch, room: float) -> None:
        """make_pictures into this board (run it on a side thread)."""
        try:
            make_pictures(job, ctx, fetch, room, self.put)
        except BaseException as exc:
            self.end(exc)
            raise
        self.end()
