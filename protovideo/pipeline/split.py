"""SPLIT_SCENES: one job rendered by several workers at once, its pieces taken as tasks.

A job of at least SPLIT_SCENES scenes, claimed by a worker whose job source carries piece tasks
(`runtime.pieces`: the Redis source's, protovideo/service/sources/piece_tasks.py), is rendered
by that worker as its coordinator, through render.py's steps with step 3 replaced:

    1 narration || pictures   all scenes first (a scene's length follows its speech)
    2 timeline                every scene's visual; the whole plan of pieces and their cache keys
    3 pieces                  each piece in no cache level yet becomes a message (piece_codec):
                              its files put in the cache first, so a worker on another machine
                              finds them through the shared level (CACHE_STORE)
      || soundtrack           mixed here meanwhile
      wait                    the coordinator takes piece tasks too (its own job's or any other's,
                              highest priority first) until every piece of its job has ended;
                              a piece failed for good fails the job, naming the piece
    4-7                       join (each piece copied down from the cache), QC, publish, report,
                              as for any job; the report's `split` says which worker made each piece

Every worker makes a piece with `make_piece` (its files from the cache, its key checked against
the coordinator's, the piece made through the cache: a piece already there is not made again).
The output is the same as one worker's render: the same pieces under the same keys, joined the
same way. A job below SPLIT_SCENES, or a source without piece tasks (spool, http), renders as ever.
"""
from __future__ import annotations

import dataclasses
import itertools
import shutil
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

from cache import make_key, open_cache
from cache.keys import file_md5
from generators.compose import piece_start, plan_pieces, render_piece
from generators.pictures import PictureBoard
from generators.narration import scene_texts, synthesize_narration
from generators.piece_codec import decode, decode_narration, encode, encode_narration, piece_name
from generators.piece_keys import FileHashes, piece_key
from generators.timeline import scene_frames, transitions
from generators.visual import Canvas
from jobmodel.errors import JobFailed
from protovideo.pipeline.outputs import check_platform_length
from protovideo.pipeline.render import (Made, Narration, Run, _job_music, _overlays, fetch, join,
                                        make_context, poster_frame, render_job, soundtrack, timeline)

WAIT_S = 0.1   # between looks at the job's pieces when there is no piece task to take


def splits(job, ctx) -> bool:
    """True when this job is rendered as piece tasks: SPLIT_SCENES set and reached, a source that
    carries piece tasks, and a cache to meet in."""
    least = int(getattr(ctx.settings, "SPLIT_SCENES", 0) or 0)
    return bool(least) and len(job.scenes) >= least and getattr(ctx.runtime, "pieces", None) is not None \
        and ctx.cache.usable


def render(job, ctx, output_path: Path | None = None):
    """The worker's render: split into piece tasks when `splits`, else render.py's as it is."""
    if not splits(job, ctx):
        return render_job(job, ctx, output_path)
    return render_job(job, ctx, output_path, make_steps=partial(make_split, ctx.runtime.pieces))


# ---------------------------------------------------------------- the coordinator
def make_split(tasks, run: Run, side: ThreadPoolExecutor) -> Made:
    """Steps 1-4 of a split job: its narration and pieces made by whichever workers take them."""
    job, ctx = run.job, run.ctx
    board = PictureBoard()
    side.submit(board.fill, job, ctx, fetch)                                    # 1 pictures
    overlays = _overlays(run)
    split = Split(tasks, run)
    try:
        split.narrate()      # 1 narration as tasks too: every worker speaks some scenes into the cache
        split.mark("narrated")
        with Narration(run) as narration:   # then in scene order, from the cache
            sounds = [narration.next(scene) for scene in job.scenes]
        fps = job.video.fps
        counts = [scene_frames(scene, sound.speech, fps) for scene, sound in zip(job.scenes, sounds)]
        check_platform_length(job, sum(counts) / fps)
        canvas = Canvas(job.video.width, job.video.height, fps, sum(counts))
        pieces = plan_pieces(counts, fps, transitions(job), job.video.transition_duration)
        starts = [0, *itertools.accumulate(counts)]
        run.pieces = len(pieces)
        visuals, hashes, first = [], FileHashes(), True
        for scene, sound in zip(job.scenes, sounds):   # 2 timeline: each scene as its picture is ready,
            visuals.append(timeline(run, scene, sound, board))   # its pieces queued at once (3 pieces)
            ready = [p for p in pieces if max(p.scenes) == scene.index]
            batch = [(p, piece_name(p), piece_key(p, visuals, run.encoder, hashes, overlays, canvas,
                                                  piece_start(p, starts)), piece_start(p, starts)) for p in ready]
            split.plan.extend(batch)
            split.queue(batch, visuals, overlays, canvas, fresh=first)
            first = False
        split.mark("queued")
        audio = side.submit(soundtrack, run, _job_music(run))                   # 3 soundtrack
        paths = split.wait()
        split.mark("pieces")
    finally:
        split.close()
    keys = [key for _p, _n, key, _a in split.plan]
    poster = side.submit(poster_frame, run, [p for p, _n, _k, _a in split.plan], paths, keys)   # 4 poster
    track = audio.result()
    ctx.check_cancelled()
    run.extra["split"] = split.report()
    return join(run, keys, paths, track, poster.result())                      # 4 join


class Split:
    """One split job's pieces: queued as tasks, waited for, and who made each."""

    def __init__(self, tasks, run: Run):
        self.tasks, self.run, self.ctx = tasks, run, run.ctx
        self.plan: list = []                    # (piece, name, key, at) once the timeline is known
        self.spoken: dict[str, dict] = {}       # narration task -> how it ended
        self._t0, self.marks = time.monotonic(), {}   # when each phase ended (the report's phases_s)
        self.job_id = run.job.id
        self.outcomes: dict[str, dict] = {}     # key -> how the piece ended
        self.cached: set[str] = set()           # pieces in the cache before the job asked
        self._shared: dict[Path, str] = {}
        self._progress = self.ctx.progress
        if self._progress is not None:          # the job's progress says who made which piece
            self.ctx.progress = self._with_pieces

    def _with_pieces(self, done, total, what="", **more) -> None:
        self._progress(done, total, what, pieces=self.summary(), **more)

    def mark(self, phase: str) -> None:
        self.marks[phase] = round(time.monotonic() - self._t0, 3)

    def summary(self) -> dict:
        made = [o for o in self.outcomes.values() if o.get("state") == "done"]
        return {"done": len(made) + len(self.cached), "total": len(self.plan), "cached": len(self.cached),
                "by_worker": dict(Counter(o["worker"] for o in made if o.get("made")))}

    def _share(self, path: Path) -> str:
        """The cache key a file is shared under (put in the cache, and so in its shared levels)."""
        known = self._shared.get(path)
        if known is None:
            known = make_key("piece_input", md5=file_md5(path), ext=path.suffix)
            self.ctx.cache.get_or_create(known, path.suffix, lambda tmp: shutil.copyfile(path, tmp))
            self._shared[path] = known
        return known

    def narrate(self) -> None:
        """Every synthesized scene's narration as a task, waited for (each worker speaks some; the
        coordinator's Narration then finds them all in the cache). Recorded narration is fetched
        by the coordinator as ever."""
        job = self.run.job
        reference = None
        if job.global_audio_prompt is not None and job.voice.provider == "chatterbox":
            reference = fetch(job.global_audio_prompt, self.ctx)   # as Narration does
        items = []
        for scene, text in zip(job.scenes, scene_texts(job)):
            recorded = scene.narration is not None and not job.narration_text.strip()
            if recorded or not text.strip():
                continue
            items.append((f"narration-{scene.index}", f"narration:{scene.index}",
                          encode_narration(text, scene.voice or job.voice, scene.index, reference, self._share)))
        if len(items) < 2:
            return
        self.tasks.put(self.job_id, job.priority, items)
        names = {key: name for key, name, _m in items}
        make = partial(make_piece, self.ctx.runtime)
        left = set(names)
        while left:
            self.ctx.check_cancelled()
            for key, outcome in self.tasks.outcomes(self.job_id).items():
                if key not in left:
                    continue
                if outcome.get("state") == "failed":
                    error = outcome.get("error") or {}
                    raise JobFailed(f"{names[key]} failed on worker {outcome.get('worker')}: "
                                    f"{error.get('type')}: {error.get('message')}",
                                    scene=int(names[key].split(":")[1]))
                left.discard(key)
                self.spoken[names[key]] = outcome
            if left and not self.tasks.work_one(make, self.ctx.cancel):
                time.sleep(WAIT_S)

    def queue(self, batch: list, visuals, overlays, canvas, fresh: bool) -> None:
        """Queue the pieces of `batch` ((piece, name, key, at) each) that no cache level has;
        `fresh`: the job's first batch (messages an earlier coordinator left are dropped)."""
        enc, items = self.run.encoder, []
        for piece, name, key, at in batch:
            if self.ctx.cache.get(key, ".mp4") is not None:   # made before: never made again
                self.cached.add(key)
                self.ctx.tracker.settle(f"{piece.kind}:{piece.scenes[0]}")
                continue
            threads = 1 if piece.kind == "transition" else enc.threads   # as the piece queue encodes them
            items.append((key, name, encode(piece, visuals, overlays, canvas, at, enc, threads, self._share)))
        if items or fresh:
            self.tasks.put(self.job_id, self.run.job.priority, items, fresh=fresh)

    def wait(self) -> list[Path]:
        """Every piece's file, in timeline order, once each has been made (by any worker)."""
        make = partial(make_piece, self.ctx.runtime)
        left = {key for _p, _n, key, _a in self.plan} - self.cached
        while left:
            self.ctx.check_cancelled()
            self._seen(self.tasks.outcomes(self.job_id), left)
            if left and not self.tasks.work_one(make, self.ctx.cancel):   # the coordinator takes piece tasks too
                time.sleep(WAIT_S)
        paths = []
        for piece, name, key, _at in self.plan:
            path = self.ctx.cache.get(key, ".mp4")
            if path is None:
                worker = self.outcomes.get(key, {}).get("worker", "?")
                raise JobFailed(f"piece {name} ({key}) was made by worker {worker} but is in no cache level "
                                "this worker reaches (workers on several machines need CACHE_STORE)",
                                scene=piece.scenes[0])
            paths.append(path)
        return paths

    def _seen(self, outcomes: dict[str, dict], left: set[str]) -> None:
        for piece, name, key, _at in self.plan:
            outcome = outcomes.get(key)
            if key not in left or outcome is None:
                continue
            if outcome.get("state") == "failed":
                error = outcome.get("error") or {}
                raise JobFailed(f"piece {name} (scenes {', '.join(map(str, piece.scenes))}) failed on worker "
                                f"{outcome.get('worker')} after {outcome.get('tries')} tries: "
                                f"{error.get('type')}: {error.get('message')}", scene=piece.scenes[0])
            left.discard(key)
            self.outcomes[key] = outcome
            self.ctx.tracker.settle(f"{piece.kind}:{piece.scenes[0]}")

    def close(self) -> None:
        self.ctx.progress = self._progress
        try:
            self.tasks.close(self.job_id)   # untaken pieces dropped; their holders stop
        except Exception:   # noqa: BLE001 - the job's own outcome matters more
            self.ctx.log.warning("job %s: closing its piece tasks failed", self.job_id, exc_info=True)

    def report(self) -> dict:
        pieces = []
        for piece, name, key, _at in self.plan:
            outcome = self.outcomes.get(key, {})
            pieces.append({"piece": name, "key": key,
                           "worker": None if key in self.cached else outcome.get("worker"),
                           "made": key not in self.cached and bool(outcome.get("made")),
                           "cached": key in self.cached, "tries": outcome.get("tries", 0),
                           "seconds": outcome.get("seconds")})
        return {"coordinator": self.tasks.worker_name, "pieces": pieces,
                "workers": dict(Counter(p["worker"] for p in pieces if p["made"])),
                "narration": {name: {"worker": o.get("worker"), "made": bool(o.get("made")), "seconds": o.get("seconds")}
                              for name, o in sorted(self.spoken.items())},
                "phases_s": self.marks}   # seconds from the split's start to the end of each phase


# ---------------------------------------------------------------- every worker
def make_piece(runtime, key: str, message: dict, cancel: threading.Event) -> dict[str, Any]:
    """Make one piece task's piece into this worker's cache (and so its shared levels):
    {"made": False} when a cache level had it already. A narration task: the scene's speech."""
    if isinstance(message, dict) and message.get("kind") == "narration":
        return _speak(runtime, message, cancel)
    cache = open_cache(runtime.cache)
    try:
        def local(file_key: str, ext: str) -> Path:
            path = cache.get(file_key, ext)
            if path is None:
                raise JobFailed(f"an input file of the piece ({file_key}{ext}) is in no cache level this "
                                "worker reaches (workers on several machines need CACHE_STORE)")
            return path

        work = decode(message, local)
        visuals = work.visual_list()
        mine = piece_key(work.piece, visuals, work.enc, FileHashes(), work.overlays, work.canvas, work.at)
        if mine != key:
            raise JobFailed(f"piece {piece_name(work.piece)}: this worker makes it under another cache key "
                            f"({mine}, not {key}): are the workers of different versions?")
        made = []

        def produce(tmp: Path) -> None:
            made.append(True)
            render_piece(work.piece, visuals, dataclasses.replace(work.enc, threads=work.threads), tmp, cancel,
                         overlays=work.overlays, canvas=work.canvas, at=work.at)

        cache.get_or_create(mine, ".mp4", produce)
        return {"made": bool(made)}
    finally:
        cache.close()


def _speak(runtime, message: dict, cancel: threading.Event) -> dict[str, Any]:
    """A narration task: the scene's speech synthesized into the cache (as the coordinator's
    Narration would, under the same key), unless a cache level has it."""
    ctx = make_context(runtime, cancel=cancel)
    try:
        def local(file_key: str, ext: str) -> Path:
            path = ctx.cache.get(file_key, ext)
            if path is None:
                raise JobFailed(f"the reference voice ({file_key}{ext}) is in no cache level this worker reaches")
            return path

        work = decode_narration(message, local)
        before = ctx.cache.counts().get("misses.kind.tts", 0)
        synthesize_narration(work.text, work.voice, ctx, work.reference, work.scene)
        return {"made": ctx.cache.counts().get("misses.kind.tts", 0) > before}
    finally:
        ctx.cache.close()
