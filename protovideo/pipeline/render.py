"""The render pipeline: one job in, one MP4 and one report out.

    job -> narration and pictures (scenes in parallel; generated pictures batched)
        -> timeline (scene lengths follow the speech)
        -> pieces (scene bodies, transitions; cached)  ||  soundtrack (narration; music and
                                                               video scenes' own sound ducked under it)
        -> join by stream copy + AAC mux -> OUTPUT_DIR/<name>.mp4 (atomic) + REPORT_DIR/<id>.json
        -> poster: a frame of the first scene -> OUTPUT_DIR/<name>.jpg (atomic)

The joined MP4 and the poster are cached too, keyed by the pieces' keys and the soundtrack, so
a job rendered again only copies two files out of the cache.
"""
from __future__ import annotations

import logging
import os
import shutil
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from cache import make_key, open_cache
from cache.keys import file_md5
from generators.audio import Placement, build_soundtrack
from generators.compose import PieceQueue, scratch_dir, total_seconds
from generators.encode import encoder_for, encoder_slots, join_and_mux
from generators.glyphs import check_job_text
from generators.loudness import encode_normalized
from generators.motions import ROOM
from generators.narration import recorded_narration, synthesize_narration
from generators.overlays.title import title_note
from generators.sidecars import write_sidecars
from generators.pictures import PictureBoard
from generators.poster import poster_path, write_poster
from generators.scenes.still import forget_pictures
from generators.speech import Speech, split_sentences
from generators.subtitles import cues_for, shift_cues
from generators.visual import SceneVisual, TextSpec
from jobmodel.errors import JobFailed, JobInvalid, SceneError
from jobmodel.spec import Job, Scene
from protovideo.pipeline.context import JobContext
from protovideo.pipeline.optimizer import PerformanceOptimizer
from protovideo.pipeline.outputs import (check_platform_length, loudness_target, qc_plan, quality_gate,
                                         video_kbps_cap)
from protovideo.pipeline.provenance import describe, place_video, write_manifest
from protovideo.pipeline.runtime import Runtime
from protovideo.runtime.settings import Settings

LEAD = 0.25   # seconds of picture before the narration starts
TAIL = 0.5    # seconds after it ends
DEFAULT_SCENE_SECONDS = 2.0  # a scene with neither duration nor words (global narration ran out)


@dataclass(frozen=True)
class RenderResult:
    output: Path
    duration_s: float
    report: dict
    report_path: Path
    poster: Path | None = None   # OUTPUT_DIR/<name>.jpg, a frame of the first scene
    subtitles: tuple[Path, ...] = ()   # <name>.srt and <name>.vtt beside the output
    qc: dict | None = None       # the output's check (protovideo/pipeline/qc.py); None: QC=off
    manifest: Path | None = None  # <name>.manifest.json beside the output (provenance.py)


@dataclass(frozen=True)
class SceneSound:
    speech: Speech | None     # narration (synthesized or recorded)
    music: Path | None        # scene music file
    note: str = ""            # what the report should say about this scene's narration


def make_context(runtime: Runtime | Settings, log: logging.Logger | None = None, progress=None,
                 cancel: threading.Event | None = None) -> JobContext:
    """One job's context in `runtime` (the process's; bare Settings get a runtime of their own):
    its optimizer writes the runtime's metrics and obeys its memory watch; its cache is opened
    from the runtime's CacheConfig."""
    runtime = Runtime.of(runtime)
    settings = runtime.settings
    optimizer = PerformanceOptimizer(settings.CACHE_DIR, settings.MAX_WORKERS,
                                     memory_watch=runtime.memory, metrics=runtime.metrics)
    cache = open_cache(runtime.cache)
    optimizer.attach_cache(cache)  # the memory watch may drop its memory level when critical
    return JobContext(runtime=runtime, settings=settings, cache=cache, optimizer=optimizer,
                      log=log or logging.getLogger("protovideo.pipeline.render"), progress=progress,
                      cancel=cancel or threading.Event())


def fetch(ref, ctx: JobContext) -> Path:
    """A local file for an asset reference (downloads go through generators.fetch)."""
    from generators.fetch import fetch_asset
    return fetch_asset(ref, ctx.settings, ctx.cache)


def spread_narration(text: str, parts: int) -> list[str]:
    """Split global narration into `parts` consecutive chunks of similar length, at sentences."""
    units = split_sentences(text)
    while 0 < len(units) < parts:  # too few sentences: split the longest at a word boundary
        longest = max(range(len(units)), key=lambda i: len(units[i]))
        words = units[longest].split()
        if len(words) < 2:
            break
        mid = len(words) // 2
        units[longest:longest + 1] = [" ".join(words[:mid]), " ".join(words[mid:])]
    total = sum(len(u) for u in units)
    chunks, taken, done = [], 0, 0
    for group in range(parts):
        last = group == parts - 1
        target = total * (group + 1) / parts
        chunk: list[str] = []
        while taken < len(units) and (last or taken < len(units) - (parts - group - 1)):
            size = len(units[taken])
            if chunk and not last and abs(done + size - target) > abs(done - target):
                break
            chunk.append(units[taken])
            done += size
            taken += 1
        chunks.append(" ".join(chunk))
    return chunks


def _scene_texts(job: Job) -> list[str]:
    if job.narration_text.strip():
        return spread_narration(job.narration_text, len(job.scenes))
    return [s.narration_text for s in job.scenes]


def _prepare_sound(job: Job, scene: Scene, text: str, reference: Path | None, ctx: JobContext) -> SceneSound:
    ctx.check_cancelled()
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


def _scene_frames(scene: Scene, sound: SceneSound, fps: int) -> int:
    needed = LEAD + sound.speech.duration + TAIL if sound.speech else 0.0
    seconds = max(scene.duration or 0.0, needed) or DEFAULT_SCENE_SECONDS
    return max(1, int(round(seconds * fps)))


def _visual(job: Job, scene: Scene, sound: SceneSound, picture: Path | None, video: Path | None,
            frames: int) -> SceneVisual:
    v, style = job.video, job.subtitles
    scale = min(v.width, v.height) / 1080.0
    sub_size = style.font_size * scale if style.font_size else min(v.width, v.height) * 0.06
    sub_style = TextSpec("", style.position, max(8, int(sub_size)), style.color, style.stroke_color, True,
                         style=style.style, highlight_color=style.highlight_color, uppercase=style.uppercase)
    title = None
    if scene.text is not None:
        t = scene.text
        title = TextSpec(t.content, t.position, max(8, int(t.fontsize * scale)), t.color)
    cues = ()
    subtitled = scene.subtitle or bool(job.narration_text.strip())
    if subtitled:
        cues = tuple(scene_cues(job, sound))
    return SceneVisual(width=v.width, height=v.height, fps=v.fps, frames=frames, kind=scene.type,
                       motion=scene.motion if video is None else "none",
                       picture=picture, video=video, title=title, cues=cues,
                       subtitle_style=sub_style if cues else None, index=scene.index)


def scene_cues(job: Job, sound: SceneSound) -> list:
    """Caption lines of a scene's narration, in the scene's own time (from its first frame)."""
    if sound.speech is None or not sound.speech.sentences:
        return []
    return cues_for(sound.speech.sentences, job.subtitles.words_per_line, offset=LEAD)


def _sidecars(job: Job, sounds: list[SceneSound], counts: list[int], output: Path) -> tuple[Path, ...]:
    """<name>.srt and <name>.vtt of every scene's narration, in the video's time."""
    cues, start = [], 0
    for sound, n in zip(sounds, counts):
        cues.extend(shift_cues(scene_cues(job, sound), start / job.video.fps))
        start += n
    if not cues:
        return ()
    return tuple(write_sidecars(output, cues))


def _soundtrack(job: Job, sounds: list[SceneSound], counts: list[int], clips: list[Path | None],
                music: Path | None, work: Path, ctx: JobContext) -> tuple[Path, str, dict]:
    """The job's AAC soundtrack, cached by everything in it and its loudness target (a re-render
    only copies it), its key, and what normalizing it measured and did (empty when cached)."""
    fps = job.video.fps
    placements, start = [], 0
    for scene, sound, n, clip in zip(job.scenes, sounds, counts, clips):
        if sound.speech is not None:
            placements.append(Placement(sound.speech.path, start / fps + LEAD))
        if sound.music is not None:
            placements.append(Placement(sound.music, start / fps, gain=job.music_volume,
                                        length=n / fps, is_speech=False))
        if clip is not None and scene.volume > 0:   # the clip's own sound, from its start
            placements.append(Placement(clip, start / fps, gain=scene.volume, length=n / fps,
                                        is_speech=False, is_clip=True))
        start += n
    total = total_seconds(counts, fps)
    target = loudness_target(job, ctx.settings)
    loudness: dict = {}
    key = make_key("soundtrack", total=round(total, 4), volume=job.music_volume, loudness=target.identity(),
                   music=file_md5(music) if music else None,
                   placements=[[file_md5(p.path), round(p.start, 4), p.gain, p.length, p.is_speech,
                                p.is_clip] for p in placements])

    def produce(tmp: Path) -> None:
        with ctx.optimizer.monitor_performance("audio_mix"):
            ctx.check_cancelled()   # a cancelled job stops here rather than mix a soundtrack
            mix = build_soundtrack(total, placements, music, job.music_volume, cancel=ctx.cancel)
            ctx.check_cancelled()
        with ctx.optimizer.monitor_performance("loudness"):   # the whole mix to the target, then AAC
            loudness.update(encode_normalized(mix, tmp, target, cancel=ctx.cancel))

    return ctx.cache.get_or_create(key, ".aac", produce), key, loudness


def _publish(pieces: list, paths: list[Path], keys: dict, soundtrack: tuple[Path, str, dict], output: Path,
             poster_at: float, work: Path, ctx: JobContext, gate=None,
             place=None) -> tuple[Path, dict | None]:
    """The joined MP4 at `output` and its poster beside it, both through the cache.

    The joined file is keyed by its pieces' keys and the soundtrack's, the poster by the
    joined file's key and its time: a job rendered again copies both out of the cache instead
    of joining and decoding again."""
    opt, (soundtrack, soundtrack_key, _loudness) = ctx.optimizer, soundtrack
    joined_key = make_key("joined", pieces=[keys[p] for p in pieces], soundtrack=soundtrack_key)

    def join(tmp: Path) -> None:
        with opt.monitor_performance("mux"):
            join_and_mux(paths, soundtrack, tmp, work)

    joined = ctx.cache.get_or_create(joined_key, ".mp4", join)
    qc = gate(joined, joined_key) if gate else None   # QC: before anything is published
    poster_key = make_key("poster", joined=joined_key, at=round(poster_at, 4))

    def frame(tmp: Path) -> None:
        with opt.monitor_performance("poster"):
            write_poster(joined, at_seconds=poster_at, poster=tmp)

    poster = ctx.cache.get_or_create(poster_key, ".jpg", frame)
    (place or copy_atomically)(joined, output)   # place: signed with Content Credentials, or copied
    return copy_atomically(poster, poster_path(output)), qc


def copy_atomically(source: Path, target: Path) -> Path:
    """Copy `source` to `target` through a hidden partial file, so `target` only ever holds a whole file."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.stem}.{os.getpid()}.partial{target.suffix}")
    try:
        shutil.copyfile(source, partial)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return target


def _unwrap(exc: SceneError) -> Exception:
    inner = exc.error
    if isinstance(inner, JobInvalid):
        return inner
    if isinstance(inner, JobFailed):
        if inner.scene is None:
            inner.scene = exc.index
        if not str(inner).startswith("scenes["):
            inner.args = (f"scenes[{exc.index}]: {inner}",)
        return inner
    if isinstance(inner, InterruptedError):
        return JobFailed("the job was cancelled (worker stopping or time limit reached)")
    return JobFailed(f"scenes[{exc.index}]: {type(inner).__name__}: {inner}", scene=exc.index)


def _check_voices(job: Job, ctx: JobContext) -> None:
    """Every named Piper voice of the job found (or downloaded) before any work; the error
    names the field (`voice.name`, `scenes[i].voice.name`)."""
    from generators.tts import get_tts_provider
    named = [("voice.name", job.voice)] + [(f"{s.path}.voice.name", s.voice) for s in job.scenes if s.voice]
    for field, voice in named:
        if voice.provider == "piper" and voice.name:
            get_tts_provider("piper", ctx.settings).named_voice(voice.name, field)


def render_job(job: Job, ctx: JobContext, output_path: Path | None = None) -> RenderResult:
    settings, opt = ctx.settings, ctx.optimizer
    check_job_text(job)  # titles/subtitles no installed font can draw: JobInvalid before any work
    _check_voices(job, ctx)
    opt.start_performance_monitoring(job.id, scenes=len(job.scenes))
    output = Path(output_path) if output_path else settings.path("OUTPUT_DIR") / job.output_name
    work = scratch_dir(settings.path("WORK_DIR"), job.id)
    try:
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix=f"job-{job.id}") as side:
            try:
                return _render(job, ctx, output, work, side)
            except SceneError as exc:
                raise _unwrap(exc) from exc
    finally:
        shutil.rmtree(work, ignore_errors=True)
        forget_pictures()        # the planes of the last pictures, shared by a scene's pieces
        ctx.cache.close()        # drops scratch files handed out while the cache is off
        opt.optimize_memory()    # freed frames and pictures go back to the system between jobs


def _render(job: Job, ctx: JobContext, output: Path, work: Path, side: ThreadPoolExecutor) -> RenderResult:
    opt, n_scenes = ctx.optimizer, len(job.scenes)
    ctx.report_progress(0, n_scenes, "scenes rendered")
    board = PictureBoard()
    side.submit(board.fill, job, ctx, fetch, ROOM)
    reference = None
    if job.global_audio_prompt is not None and job.voice.provider == "chatterbox":
        with opt.monitor_performance("fetch_assets"):
            reference = fetch(job.global_audio_prompt, ctx)
    texts = _scene_texts(job)
    fps, v = job.video.fps, job.video
    slots, threads = encoder_slots(opt.effective_max_workers)
    encoder = encoder_for(v.quality, fps, v.width, v.height, threads=threads,
                          max_kbps=video_kbps_cap(job))   # a platform's bitrate cap (video.platform)
    queue = PieceQueue(ctx, encoder, v.transition, v.transition_duration, slots, scenes=n_scenes)
    try:
        # narration in scene order on one thread (a voice model runs one text at a time);
        # each scene's pieces start encoding as soon as its neighbours' lengths are known
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="narration") as voices:
            futures = [voices.submit(_prepare_sound, job, scene, texts[scene.index], reference, ctx)
                       for scene in job.scenes]
            sounds: list[SceneSound] = []
            counts: list[int] = []
            clips: list[Path | None] = []
            layout_notes: list[str] = []
            for scene, future in zip(job.scenes, futures):
                try:
                    sound = future.result()
                except BaseException as exc:  # noqa: BLE001
                    for later in futures:
                        later.cancel()
                    raise SceneError(scene.index, exc) from exc
                sounds.append(sound)
                counts.append(_scene_frames(scene, sound, fps))
                picture, video = board.get(scene.index)
                clips.append(video)
                visual = _visual(job, scene, sound, picture, video, counts[-1])
                layout_notes.append(title_note(visual))   # a title made smaller to fit, or cut
                queue.add_scene(visual)
        check_platform_length(job, total_seconds(counts, fps))   # its length known: refused by name
        music = None
        if job.music is not None:
            with opt.monitor_performance("fetch_assets"):
                music = fetch(job.music, ctx)
        audio_future = side.submit(_soundtrack, job, sounds, counts, clips, music, work, ctx)
        pieces, paths = queue.finish()
    finally:
        queue.close()
    soundtrack = audio_future.result()
    ctx.check_cancelled()
    plan = qc_plan(job, counts, [s.speech.duration if s.speech else 0.0 for s in sounds], LEAD,
                   loudness_target(job, ctx.settings))
    with opt.monitor_performance("provenance"):   # inputs, models, voices, fonts and settings
        manifest = describe(job, ctx, fetch, encoder.identity(), loudness_target(job, ctx.settings).identity())
    poster, qc = _publish(pieces, paths, queue.keys, soundtrack, output, counts[0] / fps / 2, work, ctx,
                          gate=lambda joined, key: quality_gate(joined, key, plan, ctx),
                          place=lambda joined, out: place_video(joined, out, manifest, ctx.settings, copy_atomically))
    manifest_file = write_manifest(output, manifest, qc)
    subtitles = _sidecars(job, sounds, counts, output)
    duration = total_seconds(counts, fps)
    timeline, start = [], 0
    for scene, sound, n in zip(job.scenes, sounds, counts):
        timeline.append({"index": scene.index, "start": round(start / fps, 3), "duration": round(n / fps, 3),
                         "frames": n, "narration_s": round(sound.speech.duration, 3) if sound.speech else 0.0,
                         "word_timing": sound.speech.word_timing if sound.speech else ""})
        start += n
    report, report_path = opt.finish_job(ctx.settings.path("REPORT_DIR"), {
        "cache_stats": ctx.cache.stats(), "output": str(output), "poster": str(poster),
        "video_duration": round(duration, 3),
        "timeline": timeline, "encoder": encoder.identity(), "pieces": len(pieces),
        "subtitles": [str(p) for p in subtitles], "notes": [n for n in [s.note for s in sounds] + layout_notes if n],
        "loudness": soundtrack[2] or {"cached": True},   # the normalization's figures (soundtrack step)
        "qc": qc, "manifest": str(manifest_file)})
    ctx.report_progress(n_scenes, n_scenes, "done")
    return RenderResult(output, duration, report, report_path, poster, subtitles, qc, manifest_file)
