"""The render pipeline: one job in, one MP4 and one report out, as numbered steps.

    0 check         every text has a font, every voice passes its provider's check: before any work
    1 narration     scenes side by side, handed out in scene order (protovideo/pipeline/narration_step.py)
      ‖ pictures    on a side thread: files fetched, pictures generated (batched) or drawn
    2 timeline      a scene's length follows its speech; its visual is made as soon as it is known
    3 pieces        scene bodies and transitions (cached), each started as soon as its scenes'
                    neighbours are known, so steps 1-3 run as one stream and the encoder
                    never waits for the voice
      ‖ soundtrack  narration at its places; music and clips' own sound ducked under it (cached)
    4 join          pieces by stream copy + AAC mux (cached: a job rendered again only copies
                    files out of the cache); the caption files
      ‖ poster      the first scene's middle frame, from its piece, once the pieces are made (cached)
    5 QC            the joined file checked against the job's plan (loudness, black, frozen and
                    silent spans, A/V timing, every frame decodes: protovideo/pipeline/qc.py)
    6 finish        the finished files staged (WORK_DIR/outbox/<id>/), the video signed with
                    Content Credentials when set, the manifest beside it
    7 report        REPORT_DIR/<id>.json, naming where the files are published
    8 deliver       video, poster, captions, manifest and report published through the output sink
                    (OUTPUT_STORE: OUTPUT_DIR or S3), once, each confirmed before its staged copy
                    goes (protovideo/pipeline/delivery.py); the result holds their URLs

What a job means for the frames (lengths, visuals, overlays) is generators/timeline.py's;
the plug-ins (scene kinds, transitions, overlays) are found by name in their registries.
"""
from __future__ import annotations

import logging
import os
import shutil
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from cache import make_key, open_cache
from cache.keys import file_md5
from generators import scenes
from generators.audio import RATE, Placement, build_soundtrack, decode_audio
from generators.audio_prefetch import AudioPrefetch
from generators.compose import scratch_dir, total_seconds
from generators.encode import EncoderSettings, encoder_for, encoder_slots, join_and_mux
from generators.glyphs import check_job_text
from generators.soundtrack_segments import SEGMENTS_VERSION, SegmentedSoundtrack
from generators.overlays import layer_notes
from generators.pictures import PictureBoard
from generators.piece_queue import PieceQueue
from generators.poster import poster_frame_in, poster_path, write_poster
from generators.sidecars import write_sidecars
from generators.timeline import LEAD, overlay_uses, scene_frames, scene_visual, transitions, video_cues  # noqa: F401
from generators.tts import check_voices
from jobmodel.errors import JobFailed, JobInvalid, SceneError
from jobmodel.spec import Job, Scene
from protovideo.pipeline.context import JobContext
from protovideo.pipeline.narration_step import Narration, SceneSound, fetch  # noqa: F401 (re-exported)
from protovideo.pipeline.delivery import Delivered, deliver, planned, roles, staging_dir
from protovideo.pipeline.optimizer import PerformanceOptimizer
from protovideo.pipeline.pace import Pace
from protovideo.pipeline.workplan import WorkPlan
from protovideo.pipeline.outputs import (check_platform_length, loudness_target, qc_plan, quality_gate,
                                         video_kbps_cap)
from protovideo.pipeline.provenance import describe, place_video, write_manifest
from protovideo.pipeline.runtime import Runtime
from protovideo.runtime.settings import Settings
from storage import open_sink


@dataclass(frozen=True)
class RenderResult:
    output: Path | str           # the video: its local path, or its s3:// name (OUTPUT_STORE)
    duration_s: float
    report: dict
    report_path: Path
    poster: Path | None = None   # OUTPUT_DIR/<name>.jpg, a frame of the first scene
    subtitles: tuple[Path, ...] = ()   # <name>.srt and <name>.vtt beside the output
    qc: dict | None = None       # the output's check (protovideo/pipeline/qc.py); None: QC=off
    manifest: Path | None = None  # <name>.manifest.json beside the output (provenance.py)
    delivered: Delivered | None = None   # step 8: every file's location and URL (None: `render -o`)


@dataclass(frozen=True)
class Made:
    """Step 4's files, in the cache or the scratch folder, ready to be published."""
    video: Path
    poster: Path
    captions: tuple[Path, ...] = ()
    key: str = ""                 # the joined file's cache key (QC's result is cached under it)


@dataclass(frozen=True)
class Published:
    """Step 6's answer: where the finished files now are."""
    output: Path
    poster: Path
    subtitles: tuple[Path, ...] = ()
    manifest: Path | None = None


@dataclass
class Run:
    """One job being rendered: what its steps hand each other."""
    job: Job
    ctx: JobContext
    output: Path
    work: Path
    encoder: EncoderSettings
    slots: int
    sounds: list[SceneSound] = field(default_factory=list)
    counts: list[int] = field(default_factory=list)      # frames of each scene
    clips: list[Path | None] = field(default_factory=list)   # each scene's clip (its own sound)
    pieces: int = 0
    notes: list[str] = field(default_factory=list)       # the layers' notes (a title made smaller)
    loudness: dict = field(default_factory=dict)         # what normalizing the soundtrack did
    soundtrack: dict = field(default_factory=dict)       # its segments: how many encoded, from the cache
    qc: dict | None = None                               # step 5's result
    extra: dict = field(default_factory=dict)            # more report sections (split.py: who made each piece)


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


def render_job(job: Job, ctx: JobContext, output_path: Path | None = None, *,
               replace: bool = False, make_steps=None) -> RenderResult:
    """Render `job`. Its files are published through the output sink (OUTPUT_STORE), once;
    `replace` replaces files of other bytes under the same names (a person rendering again on
    purpose). With `output_path` the video is written there instead (and its files beside it),
    replacing what was there, and no sink is used. `make_steps(run, side)`: steps 1-4 (default
    `make`; split.py's for a job split into piece tasks)."""
    settings, opt = ctx.settings, ctx.optimizer
    check(job, ctx)
    opt.start_performance_monitoring(job.id, scenes=len(job.scenes))
    ctx.tracker.start(WorkPlan(job, qc=settings.QC != "off", loaded=ctx.runtime.models.loaded()),
                      Pace.learnt(settings.path("REPORT_DIR")))   # the job's progress and ETA
    output = Path(output_path) if output_path else staging_dir(settings, job.id) / job.output_name
    slots, threads = encoder_slots(opt.effective_max_workers)
    v = job.video
    run = Run(job, ctx, output, scratch_dir(settings.path("WORK_DIR"), job.id),
              encoder_for(v.quality, v.fps, v.width, v.height, threads=threads,
                          max_kbps=video_kbps_cap(job)), slots)   # a platform's bitrate cap
    try:
        # what the frame sources share between this job's pieces (scaled pictures) is released
        # at the scope's end, and only this job's (others may be rendering beside it: MAX_JOBS)
        with scenes.job_scope(), ThreadPoolExecutor(max_workers=2, thread_name_prefix=f"job-{job.id}") as side:
            try:
                made = (make_steps or make)(run, side)
            except SceneError as exc:
                raise _unwrap(exc) from exc
        qc(run, made)
        finished = publish(run, made)
        if output_path:
            result = report(run, finished)
        else:
            sink = open_sink(settings)
            files = roles(finished.output, finished.poster, finished.subtitles, finished.manifest)
            result = report(run, finished, planned(sink, job.id, files, f"{job.id}.json"))
            result = _delivered(result, deliver(sink, job.id, files, result.report_path,   # 8 deliver
                                                replace=replace))
        ctx.tracker.finish()
        return result
    finally:
        ctx.tracker.stop()
        shutil.rmtree(run.work, ignore_errors=True)
        ctx.cache.close()        # drops scratch files handed out while the cache is off
        opt.optimize_memory()    # freed frames and pictures go back to the system between jobs


def make(run: Run, side: ThreadPoolExecutor) -> Made:
    """Steps 1-4: the joined video, its poster and its captions."""
    job, ctx = run.job, run.ctx
    board = PictureBoard()
    side.submit(board.fill, job, ctx, fetch)                                    # 1 pictures
    queue = PieceQueue(ctx, run.encoder, transitions(job), job.video.transition_duration, run.slots,
                       scenes=len(job.scenes), overlays=_overlays(run))
    early = AudioPrefetch()   # each scene's sound decoded for the soundtrack as soon as it is made
    try:
        try:
            with Narration(run) as narration:
                for scene in job.scenes:
                    sound = narration.next(scene)                               # 1 narration
                    early.start(sound.speech.path if sound.speech else None, what="narration")
                    early.start(sound.music, what="music")
                    queue.add_scene(timeline(run, scene, sound, board))         # 2 timeline -> 3 pieces
            check_platform_length(job, total_seconds(run.counts, job.video.fps))   # refused by name
            audio = side.submit(soundtrack, run, _job_music(run), early.decode)   # 3 soundtrack
            pieces, paths = queue.finish()                                      # 3 pieces
            run.pieces = len(pieces)
        finally:
            queue.close()
        keys = [queue.keys[p] for p in pieces]
        poster = side.submit(poster_frame, run, pieces, paths, keys)          # 4 poster, from its piece
        track = audio.result()
    finally:
        early.close()
    ctx.check_cancelled()
    return join(run, keys, paths, track, poster.result())                      # 4 join


# ---------------------------------------------------------------- 0 check
def check(job: Job, ctx: JobContext) -> None:
    """Before any work: titles and captions some installed font can draw (JobInvalid), every
    voice found by its provider (JobFailed naming `voice.name` / `scenes[i].voice.name`)."""
    check_job_text(job)
    check_voices(job, ctx.settings)


# ---------------------------------------------------------------- 2 timeline
def timeline(run: Run, scene: Scene, sound: SceneSound, board: PictureBoard):
    """The scene's length (it follows the speech) and its visual, once its files are ready."""
    run.counts.append(scene_frames(scene, sound.speech, run.job.video.fps))
    run.ctx.tracker.scene_length(scene.index, run.counts[-1])   # its pieces costed by their real length
    files = board.get(scene.index)
    run.clips.append(files.file("video"))
    visual = scene_visual(run.job, scene, sound.speech, files, run.counts[-1])
    run.notes.extend(layer_notes(visual))   # a title made smaller to fit, or cut
    return visual


def _overlays(run: Run):
    """The job's overlays, their files fetched (before the first piece: every piece draws them)."""
    if not run.job.overlays:
        return ()
    with run.ctx.optimizer.monitor_performance("fetch_assets"):
        return overlay_uses(run.job, lambda ref: fetch(ref, run.ctx))


# ---------------------------------------------------------------- 3 soundtrack
def scene_starts(counts: list[int]) -> list[int]:
    """Each scene's first frame."""
    starts, at = [], 0
    for n in counts:
        starts.append(at)
        at += n
    return starts


def _job_music(run: Run) -> Path | None:
    if run.job.music is None:
        return None
    with run.ctx.optimizer.monitor_performance("fetch_assets"):
        return fetch(run.job.music, run.ctx)


def soundtrack(run: Run, music: Path | None, decode=decode_audio) -> tuple[Path, str]:
    """The job's AAC soundtrack, cached by everything in it and its loudness target (a re-render
    only copies it), and its key; what normalizing it measured and did goes to run.loudness
    (empty when it came from the cache)."""
    job, ctx, fps = run.job, run.ctx, run.job.video.fps
    placements, start = [], 0
    for scene, sound, n, clip in zip(job.scenes, run.sounds, run.counts, run.clips):
        if sound.speech is not None:
            placements.append(Placement(sound.speech.path, start / fps + LEAD))
        if sound.music is not None:
            placements.append(Placement(sound.music, start / fps, gain=job.music_volume,
                                        length=n / fps, is_speech=False))
        if clip is not None and scene.volume > 0:   # the clip's own sound, from its start
            placements.append(Placement(clip, start / fps, gain=scene.volume, length=n / fps,
                                        is_speech=False, is_clip=True))
        start += n
    total = total_seconds(run.counts, fps)
    target = loudness_target(job, ctx.settings)
    key = make_key("soundtrack", total=round(total, 4), volume=job.music_volume, loudness=target.identity(),
                   segments=SEGMENTS_VERSION,
                   music=file_md5(music) if music else None,
                   placements=[[file_md5(p.path), round(p.start, 4), p.gain, p.length, p.is_speech,
                                p.is_clip] for p in placements])

    def produce(tmp: Path) -> None:
        with ctx.tracker.working("soundtrack"):
            mixed(tmp)

    def mixed(tmp: Path) -> None:
        with ctx.optimizer.monitor_performance("audio_mix"):
            ctx.check_cancelled()   # a cancelled job stops here rather than mix a soundtrack
            mix = build_soundtrack(total, placements, music, job.music_volume, cancel=ctx.cancel,
                                   under_peak=False, decode=decode)
            ctx.check_cancelled()
        with ctx.optimizer.monitor_performance("loudness"):   # the whole mix's gain, AAC per scene
            track = SegmentedSoundtrack(mix, [round(s * RATE / fps) for s in scene_starts(run.counts)],
                                        ctx.cache, ctx.cancel)
            run.loudness.update(track.normalized(tmp, target))
            run.soundtrack.update(track.counts.as_dict())

    path = ctx.cache.get_or_create(key, ".aac", produce)
    ctx.tracker.settle("soundtrack")
    return path, key


# ---------------------------------------------------------------- 4 join
def poster_frame(run: Run, pieces, paths: list[Path], piece_keys: list[str]) -> Path:
    """The poster (the middle frame of the first scene), decoded from the piece that holds it as
    soon as the pieces are made (beside the soundtrack and the mux, not after them); cached by
    that piece's key and the frame."""
    index, piece, frame = poster_frame_in(pieces, paths, scene_starts(run.counts), run.counts[0] // 2)
    key = make_key("poster", piece=piece_keys[index], frame=frame)

    def decode(tmp: Path) -> None:
        with run.ctx.optimizer.monitor_performance("poster"):
            # half a frame in: the frame shown there, whatever the rounding of its time stamp
            write_poster(piece, at_seconds=(frame + 0.5) / run.job.video.fps, poster=tmp)

    return run.ctx.cache.get_or_create(key, ".jpg", decode)


def join(run: Run, piece_keys: list[str], paths: list[Path], track: tuple[Path, str], poster: Path) -> Made:
    """The joined MP4 through the cache, and the caption files.

    The joined file is keyed by its pieces' keys and the soundtrack's: a job rendered again
    copies it out of the cache instead of joining again."""
    with run.ctx.tracker.working("join"):
        return _join(run, piece_keys, paths, track, poster)


def _join(run: Run, piece_keys: list[str], paths: list[Path], track: tuple[Path, str], poster: Path) -> Made:
    opt, (track_path, track_key) = run.ctx.optimizer, track
    joined_key = make_key("joined", pieces=piece_keys, soundtrack=track_key)

    def joining(tmp: Path) -> None:
        with opt.monitor_performance("mux"):
            join_and_mux(paths, track_path, tmp, run.work)

    joined = run.ctx.cache.get_or_create(joined_key, ".mp4", joining)
    cues = video_cues(run.job, [s.speech for s in run.sounds], run.counts)
    captions = tuple(write_sidecars(run.work / run.output.name, cues)) if cues else ()
    return Made(joined, poster, captions, joined_key)


# ---------------------------------------------------------------- 5 QC
def qc(run: Run, made: Made) -> None:
    """The joined file checked against what the job planned, before anything is published
    (QC=fail: QCFailed, nothing published; warn: recorded; off: None). Cached with the joined file."""
    job, ctx = run.job, run.ctx
    plan = qc_plan(job, run.counts, [s.speech.duration if s.speech else 0.0 for s in run.sounds], LEAD,
                   loudness_target(job, ctx.settings))
    run.qc = quality_gate(made.video, made.key, plan, ctx)
    ctx.tracker.settle("qc")   # never begun: QC's result was kept with the joined file


# ---------------------------------------------------------------- 6 publish
def publish(run: Run, made: Made) -> Published:
    """Place the finished files: the video at its output path (signed with Content Credentials
    when C2PA_CERT/C2PA_KEY are set), the poster, captions and manifest beside it."""
    with run.ctx.tracker.working("publish"):
        return _publish(run, made)


def _publish(run: Run, made: Made) -> Published:
    job, ctx = run.job, run.ctx
    with ctx.optimizer.monitor_performance("provenance"):   # inputs, models, voices, fonts and settings
        manifest = describe(job, ctx, fetch, run.encoder.identity(), loudness_target(job, ctx.settings).identity())
    place_video(made.video, run.output, manifest, ctx.settings, copy_atomically)
    poster = copy_atomically(made.poster, poster_path(run.output))
    captions = tuple(copy_atomically(c, run.output.with_suffix(c.suffix)) for c in made.captions)
    return Published(run.output, poster, captions, write_manifest(run.output, manifest, run.qc))


def copy_atomically(source: Path, target: Path) -> Path:
    """Copy `source` to `target` through a hidden partial file, so `target` only ever holds a whole file."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.stem}.{os.getpid()}-{threading.get_ident()}.partial{target.suffix}")
    try:
        shutil.copyfile(source, partial)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return target


# ---------------------------------------------------------------- 7 report
def report(run: Run, published: Published, where: Delivered | None = None) -> RenderResult:
    """REPORT_DIR/<id>.json; `where` names the files as they will be once delivered (step 8)."""
    job, ctx, fps = run.job, run.ctx, run.job.video.fps
    duration = total_seconds(run.counts, fps)
    scenes_timeline, start = [], 0
    for scene, sound, n in zip(job.scenes, run.sounds, run.counts):
        scenes_timeline.append({
            "index": scene.index, "start": round(start / fps, 3), "duration": round(n / fps, 3), "frames": n,
            "narration_s": round(sound.speech.duration, 3) if sound.speech else 0.0,
            "word_timing": sound.speech.word_timing if sound.speech else ""})
        start += n
    at = where.locations if where else {}
    subtitles = where.subtitles if where else [str(p) for p in published.subtitles]
    data, path = ctx.optimizer.finish_job(ctx.settings.path("REPORT_DIR"), {
        "cache_stats": ctx.cache.stats(), "output": at.get("video", str(published.output)),
        "poster": at.get("poster", str(published.poster)),
        "video_duration": round(duration, 3), **run.extra,   # run.extra: split.py's `split`
        "timeline": scenes_timeline, "encoder": run.encoder.identity(), "pieces": run.pieces,
        "subtitles": subtitles,
        "notes": [n for n in [*job.notes, *(s.note for s in run.sounds), *run.notes] if n],
        "loudness": run.loudness or {"cached": True},   # the normalization's figures (soundtrack step)
        "soundtrack": run.soundtrack or {"cached": True},   # its AAC segments (generators/soundtrack_segments.py)
        "qc": run.qc, "manifest": at.get("manifest", str(published.manifest)),
        "stock": [c for _, c in sorted(getattr(ctx, "credits", {}).items())],   # each stock asset's author, page, licence
        "progress": ctx.tracker.record()})   # what each lane took: later jobs' ETAs learn from it
    return RenderResult(published.output, duration, data, path, published.poster, published.subtitles,
                        run.qc, published.manifest)


def _delivered(result: RenderResult, done: Delivered) -> RenderResult:
    """The result with the delivered files' places: local paths on the local sink, else s3:// names."""
    at = done.locations
    local = done.store == "local"
    place = (lambda role: Path(at[role]) if role in at else None) if local else (lambda role: at.get(role))
    return RenderResult(place("video"), result.duration_s, result.report, result.report_path,
                        place("poster"), tuple(place(r) for r in ("subtitles_srt", "subtitles_vtt") if r in at),
                        result.qc, place("manifest"), done)


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
