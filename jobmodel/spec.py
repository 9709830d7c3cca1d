"""Job format v1: parse and check a job before any work is done.

`parse_job(data, base_dir, asset_root)` turns decoded JSON into a `Job` or raises
`JobInvalid` whose `field` is the JSON path of the offending value
(`scenes[2].duration`); jobmodel.validate.validate_job lists every problem at once
(the readers report through jobmodel.problems). Original ProtoVideo names and snake_case aliases are
both accepted; unknown fields are refused so that typos do not pass silently.

The names of scene kinds, transitions, overlays, motions and caption styles, and the fields
those plug-ins read, come from the plug-in catalogue (jobmodel/catalogue.py), which the
renderer's registries fill; jobmodel/plugin_fields.py reads them.
"""
from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from jobmodel import catalogue
from jobmodel.errors import JobInvalid
from jobmodel.fields import Fields, boolean, choice, color, http_url, number, one_of, string, type_name
from jobmodel.limits import LIMITS
from jobmodel.platforms import PLATFORMS, check_length, check_picture
from jobmodel.plugin_fields import OverlaySpec, Params, check_kind_fields, field_names, named, overlays, param, \
    read_params
from jobmodel.problems import attempt, problem
from jobmodel.refs import AssetRef, parse_asset_ref

PRIORITIES = ("critical", "high", "normal", "low")
PRESETS = {"reel": (1080, 1920), "landscape": (1920, 1080), "square": (1080, 1080)}
POSITIONS = ("top", "center", "bottom")
QUALITIES = ("draft", "standard", "high")
ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


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

    @property
    def output_name(self) -> str:
        return self.output_filename or f"{self.id}.mp4"

    def transition_after(self, index: int) -> str:
        """The transition from scene `index` into the next: the scene's own, else video.transition."""
        return self.scenes[index].transition or self.video.transition


def _even_size(value: Any, path: str) -> int:
    size = number(LIMITS.min_side, LIMITS.max_side, integer=True)(value, path)
    if size % 2:
        raise JobInvalid(path, f"must be an even number of pixels (H.264 4:2:0), got {size}")
    return size


# ---------------------------------------------------------------- objects
def _voice(obj: Any, path: str, default_provider: str) -> VoiceSpec:
    f = Fields(obj, path, {"provider": (), "name": ("voice",), "speed": (),
                            "exaggeration": (), "cfg_weight": ("cfgWeight",)})
    return VoiceSpec(
        provider=f.get("provider", one_of("piper", "chatterbox"), default_provider),
        name=f.get("name", string(200), ""),
        speed=f.get("speed", number(0.5, 2.0), 1.0),
        exaggeration=f.get("exaggeration", number(0.0, 2.0), 0.5),
        cfg_weight=f.get("cfg_weight", number(0.0, 1.0), 0.5),
    )


def _image_spec(obj: Any, path: str, default_provider: str) -> ImageSpec:
    f = Fields(obj, path, {"provider": (), "model": (), "steps": ("num_inference_steps",),
                            "guidance_scale": ("guidance",), "negative_prompt": ("negativePrompt",),
                            "seed": (), "width": (), "height": ()})

    def multiple_of_8(value: Any, p: str) -> int:
        size = number(64, 2048, integer=True)(value, p)
        if size % 8:
            raise JobInvalid(p, f"must be a multiple of 8, got {size}")
        return size
    return ImageSpec(
        provider=f.get("provider", one_of("simple", "diffusers", "openai"), default_provider),
        model=f.get("model", string(300), ""),
        steps=f.get("steps", number(1, 150, integer=True), 4),
        guidance_scale=f.get("guidance_scale", number(0, 30), 0.0),
        negative_prompt=f.get("negative_prompt", string(2000), ""),
        seed=f.get("seed", number(0, 2**32 - 1, integer=True), 0),
        width=f.get("width", multiple_of_8, 512),
        height=f.get("height", multiple_of_8, 512),
    )


def _video_spec(obj: Any, path: str) -> VideoSpec:
    f = Fields(obj, path, {"width": (), "height": (), "preset": (), "fps": (),
                            "transition": (), "transition_duration": ("transitionDuration",),
                            "quality": (),
                            "platform": ()})
    width, height = PRESETS["reel"]
    platform = PLATFORMS.get(f.get("platform", one_of(*PLATFORMS), ""))
    if platform is not None:
        width, height = platform.size
    if f.has("preset"):
        width, height = PRESETS[f.get("preset", one_of(*PRESETS))]
    if f.has("width") != f.has("height"):
        missing = "height" if f.has("width") else "width"
        problem(JobInvalid(f.at(missing), "width and height must be given together"))
    width = f.get("width", _even_size, width)
    height = f.get("height", _even_size, height)
    if width * height > LIMITS.max_frame_pixels:
        problem(JobInvalid(f.where("width"), f"{width}x{height} is larger than the limit of "
                         f"{LIMITS.max_frame_pixels} pixels"))
    fps = f.get("fps", number(1, 60, integer=True), platform.fps if platform else 30)
    if platform is not None:
        sized_by_preset = f.has("preset") and not f.has("width")   # a refused size names what set it
        check_picture(platform, width, height, fps,
                      lambda n: f.where("preset") if sized_by_preset and n in ("width", "height") else f.where(n))
    return VideoSpec(
        width=width, height=height, fps=fps,
        transition=f.get("transition", named("transition"), "crossfade"),
        transition_duration=f.get("transition_duration", number(0, 2), 0.5),
        quality=f.get("quality", one_of(*QUALITIES), "standard"),
        platform=platform.name if platform else "",
    )


def _audio_spec(obj: Any, path: str) -> AudioSpec:
    f = Fields(obj, path, {"loudness": (), "true_peak": ("truePeak",)})

    def target(value: Any, p: str) -> float | str:
        if isinstance(value, str) and value.strip().lower() == "off":
            return "off"
        if isinstance(value, str):
            raise JobInvalid(p, f'must be a loudness in LUFS (-70 to -5) or "off", got {value!r:.40}')
        return number(-70, -5)(value, p)
    loudness = f.get("loudness", target, None)
    return AudioSpec(loudness=None if loudness in (None, "off") else loudness, normalize=loudness != "off",
                     true_peak=f.get("true_peak", number(-9, 0), -1.5))


def _subtitle_style(obj: Any, path: str) -> SubtitleStyle:
    f = Fields(obj, path, {"words_per_line": ("wordsPerLine",), "font_size": ("fontsize", "fontSize"),
                            "position": (), "color": (), "stroke_color": ("strokeColor",),
                            "style": (), "highlight_color": ("highlightColor",), "uppercase": ()})
    return SubtitleStyle(
        words_per_line=f.get("words_per_line", number(1, 20, integer=True), 4),
        font_size=f.get("font_size", number(8, 400, integer=True), 0),
        position=f.get("position", one_of(*POSITIONS), "bottom"),
        color=f.get("color", color, "white"),
        stroke_color=f.get("stroke_color", color, "black"),
        style=f.get("style", named("caption_style"), "phrase"),
        highlight_color=f.get("highlight_color", color, "#FFD400"),
        uppercase=f.get("uppercase", boolean, False),
    )


def _text_overlay(obj: Any, path: str) -> TextOverlay | None:
    if isinstance(obj, str):  # shorthand: "text": "Title"
        obj = {"content": obj}
    f = Fields(obj, path, {"content": ("text",), "position": (), "fontsize": ("font_size", "fontSize"),
                            "color": ()})
    content = f.get("content", string(LIMITS.max_title_chars), "")
    if not content.strip():
        problem(JobInvalid(f.where("content"), "a title needs non-empty content"))
    return TextOverlay(content=content,
                       position=f.get("position", one_of(*POSITIONS), "center"),
                       fontsize=f.get("fontsize", number(8, 400, integer=True), 80),
                       color=f.get("color", color, "white"))


SCENE_FIELDS = {
    "type": (), "image": ("image_url", "imageUrl"), "image_prompt": ("promptImage", "prompt_image"),
    "video": ("video_url", "videoUrl"), "narration": ("narration_url", "narrationUrl"),
    "narration_text": ("narrationText",), "duration": (), "text": (), "subtitle": ("subtitles",),
    "motion": (), "music": ("music_url",), "scene_id": ("sceneId",), "volume": (), "voice": (),
    "transition": (),
}


def _scene(obj: Any, index: int, refs: Callable[[Any, str, str], AssetRef],
           default_voice_provider: str) -> Scene:
    path = f"scenes[{index}]"
    f = Fields(obj, path, {**SCENE_FIELDS, **field_names(catalogue.entries("scene_kind"))})
    kind = f.get("type", named("scene_kind"), "image")
    entry = catalogue.resolve("scene_kind", kind)
    if entry is not None:
        check_kind_fields(f, kind)
    return Scene(
        index=index, type=kind,
        image=f.get("image", lambda v, p: refs(v, p, "image")),
        image_prompt=f.get("image_prompt", string(LIMITS.max_prompt_chars), ""),
        video=f.get("video", lambda v, p: refs(v, p, "video")),
        narration=f.get("narration", lambda v, p: refs(v, p, "audio")),
        narration_text=f.get("narration_text", string(LIMITS.max_scene_narration_chars), ""),
        duration=f.get("duration", number(LIMITS.min_scene_seconds, LIMITS.max_scene_seconds)),
        text=f.get("text", _text_overlay),
        subtitle=f.get("subtitle", boolean, False),
        motion=f.get("motion", named("motion"), "zoom_in"),
        music=f.get("music", lambda v, p: refs(v, p, "audio")),
        scene_id=f.get("scene_id", string(128), ""),
        volume=f.get("volume", number(0, 2), 1.0),
        voice=f.get("voice", lambda v, p: _voice(v, p, default_voice_provider)),
        transition=f.get("transition", named("transition")),
        params=read_params(f, entry, refs) if entry is not None else (),
    )


TOP_FIELDS = {
    "id": ("job_id",), "priority": (), "output_filename": ("outputFilename",), "scenes": (),
    "narration_text": ("narrationText",),
    "global_audio_prompt_url": ("audio_prompt_url", "globalAudioPromptUrl"),
    "voice": (), "image": (), "video": (), "subtitles": ("global_subtitle_config",),
    "music": ("music_url",), "music_volume": ("musicVolume",), "version": (),
    "callback_url": ("callbackUrl", "webhook_url"), "overlays": (),
    "audio": (),
}


def safe_output_filename(value: str, path: str) -> str:
    """Reduce an output filename to a safe basename ending in .mp4."""
    base = re.split(r"[\\/]", value.strip())[-1]
    stem = base[:-4] if base.lower().endswith(".mp4") else base
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._-")[:100]
    if not stem:
        raise JobInvalid(path, f"{value!r:.80} has no usable file name")
    return stem + ".mp4"


def parse_job(data: Any, base_dir: Path | str = ".", asset_root: Path | str | None = None, *,
              default_image_provider: str, default_voice_provider: str) -> Job:
    """Check decoded job JSON and return a Job; raise JobInvalid naming the field.
    CatalogueNotLoaded when the plug-ins have not declared themselves (generators.plugins.load_all)."""
    catalogue.entries("scene_kind")   # loud, before any field is judged against an empty catalogue
    base = Path(base_dir).resolve()
    roots = [base] + ([Path(asset_root).resolve()] if asset_root else [])

    def refs(value: Any, path: str, kind: str) -> AssetRef:
        return parse_asset_ref(value, path, kind, roots)

    f = Fields(data, "", TOP_FIELDS)
    f.get("version", number(1, 1, integer=True))

    def job_id(value: Any, path: str) -> str:
        if not isinstance(value, str) or not ID_RE.match(value):
            raise JobInvalid(path, "must be 1-64 characters of A-Z, a-z, 0-9, '_' or '-'")
        return value

    raw_scenes = f.values["scenes"][1] if f.has("scenes") else None
    if raw_scenes is None:
        problem(JobInvalid("scenes", "is required: a list of 1 to "
                           f"{LIMITS.max_scenes} scenes"))
        raw_scenes = []
    elif not isinstance(raw_scenes, list):
        problem(JobInvalid("scenes", f"must be a list, got {type_name(raw_scenes)}"))
        raw_scenes = []
    elif not 1 <= len(raw_scenes) <= LIMITS.max_scenes:
        problem(JobInvalid("scenes", f"must hold 1 to {LIMITS.max_scenes} scenes, got {len(raw_scenes)}"))
        raw_scenes = raw_scenes[:LIMITS.max_scenes]
    voice_obj = f.values.get("voice", (None, None))[1]
    voice = attempt(_voice, voice_obj, f.where("voice"), default_voice_provider, default=None) \
        if voice_obj is not None else None
    voice = voice or VoiceSpec(provider=default_voice_provider)
    image_obj = f.values.get("image", (None, None))[1]
    image = attempt(_image_spec, image_obj, f.where("image"), default_image_provider, default=None) \
        if image_obj is not None else None
    image = image or ImageSpec(provider=default_image_provider)
    video = f.get("video", _video_spec, VideoSpec())
    scenes = tuple(scene for scene in (attempt(_scene, obj, i, refs, default_voice_provider)
                                       for i, obj in enumerate(raw_scenes))
                   if scene is not None)
    narration_text = f.get("narration_text", string(LIMITS.max_job_narration_chars), "")
    job = Job(
        id=f.get("id", job_id) or uuid.uuid4().hex[:16],
        scenes=scenes,
        priority=f.get("priority", one_of(*PRIORITIES), "normal"),
        output_filename=f.get("output_filename",
                              lambda v, p: safe_output_filename(string(255)(v, p), p), ""),
        narration_text=narration_text,
        global_audio_prompt=f.get("global_audio_prompt_url", lambda v, p: refs(v, p, "audio")),
        voice=voice, image=image, video=video,
        subtitles=f.get("subtitles", _subtitle_style, SubtitleStyle()),
        music=f.get("music", lambda v, p: refs(v, p, "audio")),
        music_volume=f.get("music_volume", number(0, 1), 0.15),
        callback_url=f.get("callback_url", http_url(), ""),
        audio=f.get("audio", _audio_spec, AudioSpec()),
        overlays=f.get("overlays", lambda v, p: overlays(v, p, refs), ()),
        base_dir=base,
    )
    _check_durations(job)
    return job


def _check_durations(job: Job) -> None:
    total_text = len(job.narration_text) + sum(len(s.narration_text) for s in job.scenes)
    if total_text > LIMITS.max_job_narration_chars:
        problem(JobInvalid("narration_text", f"the job's narration is {total_text} characters; "
                         f"the limit is {LIMITS.max_job_narration_chars}"))
    has_global = bool(job.narration_text.strip())
    known = 0.0
    for scene in job.scenes:
        speaks = has_global or scene.narration is not None or bool(scene.narration_text.strip())
        if scene.duration is None and not speaks:
            problem(JobInvalid(f"{scene.path}.duration",
                             "is required when the scene has no narration"))
        if scene.subtitle and not speaks:
            problem(JobInvalid(f"{scene.path}.subtitle", "subtitles need narration_text to show"))
        known += scene.duration or 0.0
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
