"""Each scene's files: its picture (an image asset, a generated image, batched and cached, or a
simple background) and the files its scene kind shows (a clip, a plug-in's asset).

What a scene needs is its scene kind's to say (generators/scenes): `picture=ROOM` a still
picture covering ROOM times the frame, `files=(...)` scene fields holding files, and any
param declared with `asset=`. `make_pictures(job, ctx, fetch, ready)` calls
`ready(index, picture, files)` for each scene as soon as they are local files, so the
renderer can start on scene 0 while later pictures are still being made (`PictureBoard`
collects them across threads).
"""
from __future__ import annotations

import threading
from dataclasses import asdict
from pathlib import Path
from typing import NamedTuple

from cache import make_key
from jobmodel.stock import StockQuery

from .images import ImageRequest, get_image_provider
from .scenes import kind_of


class SceneFiles(NamedTuple):
    picture: Path | None = None                 # the still picture (scene kinds with `picture`)
    files: tuple[tuple[str, Path], ...] = ()     # (field, local file): a clip's `video`, asset params

    def file(self, name: str) -> Path | None:
        return dict(self.files).get(name)


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
            ready(i, hit)
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
            ready(i, ctx.cache.get_or_create(keys[i], ".png", lambda tmp, im=image: im.save(tmp, **PNG_OPTIONS)))
        del images


def _lookup(ctx, key: str) -> Path | None:
    """The cached picture for key (counted as a hit), or None: then it is generated with the others."""
    return ctx.cache.get(key, ".png") if ctx.cache.contains(key, ".png", shared=True) else None


def _wanted(scene) -> list[tuple[str, object]]:
    """(field, asset reference) of every file the scene's kind shows; "" names the picture. A
    scene's `stock` query (generators/stock) stands for its picture or clip when it has none."""
    kind = kind_of(scene.type)
    wanted = [(name, getattr(scene, name)) for name in kind.trait("files", ())]
    wanted += [(name, scene.param(name)) for name in kind.assets]
    if kind.trait("picture") and scene.image is not None:
        wanted.append(("", scene.image))
    stock = scene.param("stock")
    if stock is not None:
        shown = "" if kind.trait("picture") else "video"
        if not any(name == shown and ref is not None for name, ref in wanted):
            wanted.append((shown, stock))
    return [(name, ref) for name, ref in wanted if ref is not None]


def _stock_ref(job, scene, query, ctx):
    """The scene's stock query searched (cached), its credit noted for the report and manifest."""
    from .stock import Want, asset_ref, credit, find_stock
    seconds = scene.duration or 0.0
    if not seconds and scene.narration_text.strip():      # about 2.5 words a second, as speech goes
        seconds = len(scene.narration_text.split()) / 2.5 + 0.5
    where = f"{scene.path}.stock"
    asset = find_stock(query, Want(job.video.width, job.video.height, seconds), ctx.settings, ctx.cache, where)
    credits = getattr(ctx, "credits", None)
    if credits is not None:
        credits[scene.index] = credit(asset, where)
    return asset_ref(asset, where)


def make_pictures(job, ctx, fetch, ready) -> None:
    """Scenes that need no file first (at once); then those with files to fetch, side by
    side through the optimizer's scene fan-out (`parallel_process_scenes`: a failed scene
    raises SceneError with its index once the others are done; fewer at once while memory
    is critical); then the generated pictures, one provider call per batch of scenes."""
    wanted = {scene.index: _wanted(scene) for scene in job.scenes}
    fetched_for: dict[int, tuple[tuple[str, Path], ...]] = {}   # files of scenes whose picture is made

    def generated(scene) -> bool:
        return bool(kind_of(scene.type).trait("picture")) and scene.image is None and scene.param("stock") is None

    def local(scene, ref) -> Path:
        if isinstance(ref, StockQuery):
            with ctx.optimizer.monitor_performance("stock_search", scene.index):
                ref = _stock_ref(job, scene, ref, ctx)
        return fetch(ref, ctx)

    def fetch_scene(scene) -> None:
        if not wanted[scene.index]:
            return
        with ctx.optimizer.monitor_performance("fetch_assets", scene.index):
            fetched = [(name, local(scene, ref)) for name, ref in wanted[scene.index]]
        files = tuple((n, f) for n, f in fetched if n)
        if generated(scene):
            fetched_for[scene.index] = files
        else:
            ready(scene.index, dict(fetched).get(""), files)

    by_provider: dict[str, list[tuple[int, ImageRequest]]] = {}
    for scene in job.scenes:
        if generated(scene):
            name, request = _request(job, scene, kind_of(scene.type).trait("picture"))
            by_provider.setdefault(name, []).append((scene.index, request))
        elif not wanted[scene.index]:
            ready(scene.index, None, ())
    if any(wanted.values()):
        ctx.optimizer.parallel_process_scenes(fetch_scene, job.scenes)   # item i is scene i
    for name, wanted_pictures in by_provider.items():
        _generate(name, wanted_pictures, ctx, lambda i, picture: ready(i, picture, fetched_for.get(i, ())))


class PictureBoard:
    """Each scene's SceneFiles as make_pictures reports them from another thread."""

    def __init__(self):
        self._cond = threading.Condition()
        self._ready: dict[int, SceneFiles] = {}
        self._ended = False
        self._error: BaseException | None = None

    def put(self, index: int, picture: Path | None, files: tuple[tuple[str, Path], ...] = ()) -> None:
        with self._cond:
            self._ready[index] = SceneFiles(picture, tuple(files))
            self._cond.notify_all()

    def end(self, error: BaseException | None = None) -> None:
        """make_pictures returned (or raised `error`): nothing more will come."""
        with self._cond:
            self._ended, self._error = True, error
            self._cond.notify_all()

    def get(self, index: int) -> SceneFiles:
        """Wait for scene `index`; raises what make_pictures raised if it failed first."""
        with self._cond:
            self._cond.wait_for(lambda: index in self._ready or self._ended)
            if index in self._ready:
                return self._ready[index]
            if self._error is not None:
                raise self._error
            return SceneFiles()

    def fill(self, job, ctx, fetch) -> None:
        """make_pictures into this board (run it on a side thread); each scene's picture is a unit
        of the job's progress (`ctx.tracker`: picture:<i>), ended when it is put here."""
        for scene in job.scenes:
            ctx.tracker.begin(f"picture:{scene.index}")

        def ready(index: int, picture: Path | None, files=()) -> None:
            ctx.tracker.end(f"picture:{index}")
            self.put(index, picture, files)

        try:
            make_pictures(job, ctx, fetch, ready)
        except BaseException as exc:
            self.end(exc)
            raise
        self.end()
