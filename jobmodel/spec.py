"""Job format v1: parse and check a job before any work is done.

`parse_job(data, base_dir, asset_root)` turns decoded JSON into a `Job` or raises
`JobInvalid` whose `field` is the JSON path of the offending value
(`scenes[2].duration`); jobmodel.validate.validate_job lists every problem at once
(the readers report through jobmodel.problems). The fields, their names and aliases (the
original ProtoVideo names), readers and defaults are declared once, in the typed schema
(jobmodel/schema.py, pydantic models); this module turns a read model into the frozen
dataclasses the renderer uses and runs the checks that span objects: the picture size from a
preset or platform, the fields of each scene kind, durations, captions and platform limits.

The names of scene kinds, transitions, overlays, motions and caption styles, and the fields
those plug-ins read, come from the plug-in catalogue (jobmodel/catalogue.py), which the
renderer's registries fill; jobmodel/plugin_fields.py reads them.
"""
from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jobmodel import catalogue
from jobmodel.errors import JobInvalid
from jobmodel.fields import choice
from jobmodel.limits import LIMITS
from jobmodel.platforms import PLATFORMS, check_length, check_picture
from jobmodel.plugin_fields import OverlaySpec, Params, param
from jobmodel.prepare import prepare_job
from jobmodel.problems import attempt, collecting, is_collecting, problem, unique
from jobmodel.refs import AssetRef
from jobmodel.schema import (ID_PATTERN, POSITIONS, PRESETS, PRIORITIES, QUALITIES, asset, job_models,  # noqa: F401
                             read_job_model, safe_output_filename, using_roots)
from jobmodel.schema_core import spellings

ID_RE = re.compile(ID_PATTERN)


def priority_name(value: Any) -> str | None:
    """The priority `value` spells (fields.choice: "CRITICAL", " critical" -> "critical"), else None.
    The job model, the sources and every route read a priority with this one rule."""
    return choice(value, PRIORITIES)


@dataclass(frozen=True)
class TextOverlay:
    content: str
    position: str = "center"
    fontsize: int = 80
    color: str = "white"


@dataclass(frozen=True)
class VoiceSpec:
    provider: str = "piper"
    name: str = ""
    speed: float = 1.0
    exaggeration: float = 0.5
    cfg_weight: float = 0.5


@dataclass(frozen=True)
class ImageSpec:
    provider: str = "simple"
    model: str = ""
    steps: int = 4
    guidance_scale: float = 0.0
    negative_prompt: str = ""
    seed: int = 0
    width: int = 512
    height: int = 512


@dataclass(frozen=True)
class VideoSpec:
    width: int = 1080
    height: int = 1920
    fps: int = 30
    transition: str = "crossfade"
    transition_duration: float = 0.5
    quality: str = "standard"
    platform: str = ""          # video.platform (jobmodel/platforms.py); "" none


@dataclass(frozen=True)
class AudioSpec:
    loudness: float | None = None   # integrated target, LUFS; None: the platform's or LOUDNESS_TARGET
    normalize: bool = True          # False: audio.loudness "off"
    true_peak: float = -1.5         # dBTP


@dataclass(frozen=True)
class SubtitleStyle:
    words_per_line: int = 4
    font_size: int = 0  # 0: scaled to the frame
    position: str = "bottom"
    color: str = "white"
    stroke_color: str = "black"
    style: str = "phrase"            # phrase | karaoke | word
    highlight_color: str = "#FFD400"
    uppercase: bool = False


@dataclass(frozen=True)
class Scene:
    index: int
    type: str = "image"
    image: AssetRef | None = None
    image_prompt: str = ""
    video: AssetRef | None = None
    narration: AssetRef | None = None
    narration_text: str = ""
    duration: float | None = None
    text: TextOverlay | None = None
    subtitle: bool = False
    motion: str = "zoom_in"
    music: AssetRef | None = None
    scene_id: str = ""
    volume: float = 1.0        # a video scene's own sound (0: silent), ducked under narration
    voice: VoiceSpec | None = None   # the scene's own voice (dialogue); None: the job's
    transition: str | None = None    # the transition into the next scene; None: video.transition
    params: Params = ()              # the fields its scene kind declares (a card's background)

    @property
    def path(self) -> str:
        return f"scenes[{self.index}]"

    def param(self, name: str, default: Any = None) -> Any:
        return param(self.params, name, default)


@dataclass(frozen=True)
class Job:
    id: str
    scenes: tuple[Scene, ...]
    priority: str = "normal"
    output_filename: str = ""
    narration_text: str = ""
    global_audio_prompt: AssetRef | None = None
    voice: VoiceSpec = field(default_factory=VoiceSpec)
    image: ImageSpec = field(default_factory=ImageSpec)
    video: VideoSpec = field(default_factory=VideoSpec)
    subtitles: SubtitleStyle = field(default_factory=SubtitleStyle)
    music: AssetRef | None = None
    music_volume: float = 0.15
    callback_url: str = ""     # webhook for the final record (protovideo.service.webhooks)
    audio: AudioSpec = field(default_factory=AudioSpec)
    overlays: tuple[OverlaySpec, ...] = ()   # layers over the whole video (logo, progress bar, ...)
    base_dir: Path = Path(".")
    notes: tuple[str, ...] = ()    # what the job model decided for the job (captions turned on...)

    @property
    def output_name(self) -> str:
        return self.output_filename or f"{self.id}.mp4"

    def transition_after(self, index: int) -> str:
        """The transition from scene `index` into the next: the scene's own, else video.transition."""
        return self.scenes[index].transition or self.video.transition


def _names(model) -> dict[str, tuple[str, ...]]:
    """Each field of a model with its other spellings."""
    found: dict[str, list[str]] = {}
    for key, name in spellings(model).items():
        found.setdefault(name, [])
        if key != name:
            found[name].append(key)
    return {name: tuple(keys) for name, keys in found.items()}


def _fields_of(part: str) -> dict[str, tuple[str, ...]]:
    from jobmodel.schema import SCENE_BASE, JOB_BASE
    return _names(SCENE_BASE if part == "scene" else JOB_BASE)


SCENE_FIELDS = _fields_of("scene")   # the fields every scene has (kinds add theirs), with their aliases
TOP_FIELDS = _fields_of("job")


def parse_job(data: Any, base_dir: Path | str = ".", asset_root: Path | str | None = None, *,
              default_image_provider: str, default_voice_provider: str) -> Job:
    """Check decoded job JSON and return a Job; raise JobInvalid naming the (first) bad field.
    Inside jobmodel.problems.collecting() every problem is noted instead (validate_job).
    CatalogueNotLoaded when the plug-ins have not declared themselves (generators.plugins.load_all)."""
    catalogue.entries("scene_kind")   # loud, before any field is judged against an empty catalogue
    base = Path(base_dir).resolve()
    roots = [base] + ([Path(asset_root).resolve()] if asset_root else [])
    if is_collecting():
        return _parse(data, base, roots, default_image_provider, default_voice_provider)
    with collecting() as found:
        job = _parse(data, base, roots, default_image_provider, default_voice_provider)
    if found:
        raise unique(found)[0]
    return job


def _parse(data: Any, base: Path, roots: list[Path], image_provider: str, voice_provider: str) -> Job | None:
    data, early, go_on = prepare_job(data)   # a template filled in, stock defaults given out
    for exc in early:
        problem(exc)
    if not go_on:            # placeholders left unfilled: the rest would only be knock-on problems
        return None
    model = read_job_model(data, roots)
    if model is None:
        return None
    with using_roots(roots):
        return _job(model, base, image_provider, voice_provider)


def _job(m, base: Path, image_provider: str, voice_provider: str) -> Job:
    has_global = bool(m.narration_text.strip())
    scenes, notes = [], []
    auto = []
    for index, sm in m.scenes or ():
        scene = _scene(sm, index, voice_provider, has_global, m.subtitles is not None)
        if m.subtitles is not None and sm.subtitle is None and scene.subtitle:
            auto.append(index)
        scenes.append(scene)
    if m.subtitles is not None:
        if auto:
            notes.append(f"subtitles: captions turned on for scene{'s' if len(auto) > 1 else ''} "
                         f"{', '.join(str(i) for i in auto)} by the job's subtitles object "
                         "(a scene's \"subtitle\": false keeps them off)")
        elif not any(s.subtitle for s in scenes):
            notes.append("subtitles: no scene has narration text to caption; the subtitles object is unused "
                         "and no caption files are written")
    sub = m.subtitles
    job = Job(
        id=m.id or uuid.uuid4().hex[:16],
        scenes=tuple(scenes),
        priority=m.priority,
        output_filename=m.output_filename,
        narration_text=m.narration_text,
        global_audio_prompt=m.global_audio_prompt_url,
        voice=_voice(m.voice, voice_provider) or VoiceSpec(provider=voice_provider),
        image=_image(m.image, image_provider),
        video=_video(m.video),
        subtitles=SubtitleStyle() if sub is None else SubtitleStyle(
            words_per_line=sub.words_per_line, font_size=sub.font_size, position=sub.position,
            color=sub.color, stroke_color=sub.stroke_color, style=sub.style,
            highlight_color=sub.highlight_color, uppercase=sub.uppercase),
        music=m.music,
        music_volume=m.music_volume,
        callback_url=m.callback_url,
        audio=_audio(m.audio),
        overlays=tuple(_overlay(index, om) for index, om in m.overlays),
        base_dir=base,
        notes=tuple(notes),
    )
    _check_durations(job)
    return job


def _voice(m, default_provider: str) -> VoiceSpec | None:
    if m is None:
        return None
    return VoiceSpec(provider=m.provider or default_provider, name=m.name, speed=m.speed,
                     exaggeration=m.exaggeration, cfg_weight=m.cfg_weight)


def _image(m, default_provider: str) -> ImageSpec:
    if m is None:
        return ImageSpec(provider=default_provider)
    return ImageSpec(provider=m.provider or default_provider, model=m.model, steps=m.steps,
                     guidance_scale=m.guidance_scale, negative_prompt=m.negative_prompt, seed=m.seed,
                     width=m.width, height=m.height)


def _audio(m) -> AudioSpec:
    if m is None:
        return AudioSpec()
    return AudioSpec(loudness=None if m.loudness in (None, "off") else m.loudness,
                     normalize=m.loudness != "off", true_peak=m.true_peak)


def _video(m) -> VideoSpec:
    if m is None:
        return VideoSpec()
    platform = PLATFORMS.get(m.platform) if m.platform else None
    width, height = platform.size if platform is not None else PRESETS["reel"]
    if m.preset:
        width, height = PRESETS[m.preset]
    width, height = m.width or width, m.height or height
    if width * height > LIMITS.max_frame_pixels:
        problem(JobInvalid(m.at("width"), f"{width}x{height} is larger than the limit of "
                                          f"{LIMITS.max_frame_pixels} pixels"))
    fps = m.fps or (platform.fps if platform else 30)
    if platform is not None:
        sized_by_preset = m.has("preset") and not m.has("width")   # a refused size names what set it
        check_picture(platform, width, height, fps,
                      lambda n: m.at("preset") if sized_by_preset and n in ("width", "height") else m.at(n))
    return VideoSpec(width=width, height=height, fps=fps, transition=m.transition,
                     transition_duration=m.transition_duration, quality=m.quality,
                     platform=platform.name if platform else "")


def _scene(m, index: int, voice_provider: str, has_global: bool, subtitles_given: bool) -> Scene:
    entry = None if m.refused("type") else catalogue.resolve("scene_kind", m.type)
    if entry is not None:
        _check_kind_fields(m, entry)
    speaks = has_global or m.narration is not None or bool(m.narration_text.strip())
    meant_to_speak = speaks or any(m.typo_for(n) or m.refused(n) for n in ("narration", "narration_text"))
    shown = has_global or bool(m.narration_text.strip())     # words a caption can show
    if m.duration is None and not meant_to_speak and not m.refused("duration") and not m.typo_for("duration"):
        problem(JobInvalid(m.at("duration"), "is required when the scene has no narration"))
    subtitle = m.subtitle
    if subtitle and not meant_to_speak:
        problem(JobInvalid(m.at("subtitle"), "subtitles need narration_text to show"))
    if subtitle is None:   # a job-wide narration is always captioned; a subtitles object turns them on
        subtitle = has_global or (subtitles_given and shown)
    return Scene(
        index=index, type=m.type, image=m.image, image_prompt=m.image_prompt, video=m.video,
        narration=m.narration, narration_text=m.narration_text, duration=m.duration, text=_text(m.text),
        subtitle=bool(subtitle), motion=m.motion, music=m.music, scene_id=m.scene_id, volume=m.volume,
        voice=_voice(m.voice, voice_provider), transition=m.transition,
        params=_params(m, entry) if entry is not None else (),
    )


def _text(m) -> TextOverlay | None:
    if m is None:
        return None
    return TextOverlay(content=m.content, position=m.position, fontsize=m.fontsize, color=m.color)


def _params(m, entry: catalogue.Entry) -> Params:
    """The entry's params from the scene, each read by the entry's own reader, defaults filled in."""
    values = []
    for name, p in entry.params.items():
        if p.required and not m.has(name) and not m.typo_for(name):
            problem(JobInvalid(m.at(name), f"is required for {entry.name}"))
        value = p.default
        if m.has(name):
            read = asset(p.asset) if p.asset else p.check
            raw = getattr(m, name)
            value = attempt(read, raw, m.at(name), default=p.default) if read is not None else raw
        values.append((name, value))
    return tuple(values)


def _check_kind_fields(m, entry: catalogue.Entry) -> None:
    """A scene's fields that other scene kinds own or declare, given to a scene of this kind:
    refused, naming the kinds they belong to; fields the kind needs and lacks: refused."""
    mine = set(entry.params) | set(entry.owns)
    owners: dict[str, list[str]] = {}
    for other in catalogue.entries("scene_kind"):
        for name in (*other.params, *other.owns):
            owners.setdefault(name, []).append(other.name)
    for name, kinds in owners.items():
        if name not in mine and m.has(name):
            problem(JobInvalid(m.at(name), f"'{name}' is only for scenes of type {' or '.join(kinds)}; "
                                           f"this scene is of type {entry.name}"))
    for need in entry.needs:   # "video|stock": one of them
        names = need.split("|")
        if not any(m.has(name) or m.typo_for(name) for name in names):
            wanted = " or ".join(f"'{name}'" for name in names)
            problem(JobInvalid(m.at(names[0]), f"a scene of type {entry.name} needs {wanted}"))


def _overlay(index: int, m) -> OverlaySpec:
    entry = catalogue.resolve("overlay", m.type)
    return OverlaySpec(entry.name, tuple((name, getattr(m, name)) for name in entry.params), index)


def _check_durations(job: Job) -> None:
    total_text = len(job.narration_text) + sum(len(s.narration_text) for s in job.scenes)
    if total_text > LIMITS.max_job_narration_chars:
        problem(JobInvalid("narration_text", f"the job's narration is {total_text} characters; "
                         f"the limit is {LIMITS.max_job_narration_chars}"))
    known = sum(scene.duration or 0.0 for scene in job.scenes)
    if known > LIMITS.max_job_seconds:
        problem(JobInvalid("scenes", f"the scenes last {known:g} s; the limit is {LIMITS.max_job_seconds:g} s"))
    if job.video.platform and known > PLATFORMS[job.video.platform].max_seconds:   # narration only adds
        check_length(PLATFORMS[job.video.platform], known)
    td = job.video.transition_duration
    spanning = [i for i in range(len(job.scenes) - 1)
                if catalogue.resolve("transition", job.transition_after(i)).trait("spans", True)]
    if spanning:
        shortest = min((s.duration for s in job.scenes if s.duration), default=None)
        if shortest is not None and td > shortest / 2:
            problem(JobInvalid("video.transition_duration",
                             f"{td:g} s is more than half of the shortest scene ({shortest:g} s)"))
