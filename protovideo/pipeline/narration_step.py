"""Step 1 of the render pipeline (protovideo/pipeline/render.py): each scene's sound.

Every scene's narration (synthesized, or a recording with its transcript aligned) and its music
file, made by up to NARRATION_WORKERS threads ahead of the scene asking for it and handed out
in scene order; `fetch` gives a local file for any asset reference of a job.
"""
from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from generators.narration import narration_workers, recorded_narration, scene_texts, synthesize_narration
from generators.speech import Speech
from jobmodel.errors import SceneError
from jobmodel.spec import Job, Scene
from protovideo.pipeline.context import JobContext


def fetch(ref, ctx: JobContext) -> Path:
    """A local file for an asset reference (downloads go through generators.fetch)."""
    from generators.fetch import fetch_asset
    return fetch_asset(ref, ctx.settings, ctx.cache)


@dataclass(frozen=True)
class SceneSound:
    speech: Speech | None     # narration (synthesized or recorded)
    music: Path | None        # scene music file
    note: str = ""            # what the report should say about this scene's narration


class Narration:
    """Each scene's sound, handed out in scene order, made ahead of the scene asking for it by
    up to NARRATION_WORKERS threads (generators.narration.narration_workers): scenes spoken side
    by side come out as they would one after the other (tests/test_narration_parallel.py)."""

    def __init__(self, run):   # render.Run: the job, its context, the sounds made so far
        self.run = run
        workers = narration_workers(getattr(run.ctx.settings, "NARRATION_WORKERS", 0), len(run.job.scenes))
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="narration")
        self._futures: dict[int, Future] = {}

    def __enter__(self) -> "Narration":
        job, texts = self.run.job, scene_texts(self.run.job)
        try:
            reference = None
            if job.global_audio_prompt is not None and job.voice.provider == "chatterbox":
                with self.run.ctx.optimizer.monitor_performance("fetch_assets"):
                    reference = fetch(job.global_audio_prompt, self.run.ctx)
            for scene in job.scenes:
                self._futures[scene.index] = self._pool.submit(scene_sound, job, scene, texts[scene.index],
                                                              reference, self.run.ctx)
        except BaseException:
            self.__exit__()
            raise
        return self

    def next(self, scene: Scene) -> SceneSound:
        try:
            sound = self._futures[scene.index].result()
        except BaseException as exc:  # noqa: BLE001
            raise SceneError(scene.index, exc) from exc
        self.run.sounds.append(sound)
        return sound

    def __exit__(self, *exc) -> None:
        for future in self._futures.values():
            future.cancel()
        self._pool.shutdown(wait=True)


def scene_sound(job: Job, scene: Scene, text: str, reference: Path | None, ctx: JobContext) -> SceneSound:
    ctx.check_cancelled()
    with ctx.tracker.working(f"narration:{scene.index}"):
        return _scene_sound(job, scene, text, reference, ctx)


def _scene_sound(job: Job, scene: Scene, text: str, reference: Path | None, ctx: JobContext) -> SceneSound:
    speech, note = None, ""
    recorded = scene.narration is not None and not job.narration_text.strip()
    if recorded:  # the recording is heard; narration_text, when given, is its transcript
        with ctx.optimizer.monitor_performance("fetch_assets", scene.index):
            path = fetch(scene.narration, ctx)
        speech = recorded_narration(path, text, ctx, scene.index)
        if scene.subtitle and not text.strip():
            note = (f"{scene.path}.subtitle: the recorded narration has no transcript "
                    "(narration_text), so this scene has no captions")
    elif text.strip():
        speech = synthesize_narration(text, scene.voice or job.voice, ctx, reference, scene.index)
    music = None
    if scene.music is not None:
        with ctx.optimizer.monitor_performance("fetch_assets", scene.index):
            music = fetch(scene.music, ctx)
    return SceneSound(speech, music, note)
