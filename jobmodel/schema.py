"""The job format's one typed schema: pydantic models of a job, built from the plug-in catalogue.

    models = job_models()            # the models for the plug-ins declared now (cached)
    model = read_job_model(data)     # every problem reported (jobmodel.problems), defaults in place
    job_json_schema()                # the JSON Schema of a job (GET /v1/schema/job.json, OpenAPI)

Each field is declared here once: its name and other spellings (the original ProtoVideo names),
its reader (jobmodel.fields: the check, its messages and its JSON Schema), its default and its
meaning. jobmodel/spec.py turns a read model into the Job dataclasses the renderer uses and runs
the checks that span objects (durations, platform limits). The names of scene kinds,
transitions, overlays, motions and caption styles, and the fields plug-ins read, come from the
catalogue (jobmodel/catalogue.py): the models are rebuilt when it changes.
"""
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Annotated, Any, Iterator, Optional, Union

from pydantic import AliasChoices, Field, create_model

from jobmodel import catalogue
from jobmodel.errors import JobInvalid
from jobmodel.fields import (ID_PATTERN, boolean, color as colour, even_size, http_url, job_id, loudness,  # noqa: F401
                             multiple_of_8, number, one_of, safe_output_filename, string, type_name)
from jobmodel.limits import LIMITS
from jobmodel.platforms import PLATFORMS
from jobmodel.plugin_fields import MAX_OVERLAYS, named
from jobmodel.problems import attempt, problem
from jobmodel.refs import AssetRef, parse_asset_ref
from jobmodel.schema_core import Check, Part, add_spellings, read_model, schema_of
from jobmodel.stock import StockDefaults
from jobmodel.templates import read_variables

PRIORITIES = ("critical", "high", "normal", "low")
PRESETS = {"reel": (1080, 1920), "landscape": (1920, 1080), "square": (1080, 1080)}
POSITIONS = ("top", "center", "bottom")
QUALITIES = ("draft", "standard", "high")
VOICE_PROVIDERS = ("piper", "chatterbox")
IMAGE_PROVIDERS = ("simple", "diffusers", "openai")
SCHEMA_ID = "/v1/schema/job.json"
# http:, https:, file: or no scheme at all (one letter is a Windows drive), as jobmodel.refs reads it
ASSET_PATTERN = r"^\s*(?:(?:[hH][tT][tT][pP][sS]?|[fF][iI][lL][eE]):|(?![A-Za-z][A-Za-z0-9+.\-]+:))"

_roots: ContextVar[tuple] = ContextVar("job_asset_roots", default=())


def F(default: Any, *names: str, about: str = "") -> Any:
    """A field's default, its names (the field's own first, then its other spellings) and meaning."""
    alias = {"validation_alias": AliasChoices(*names)} if len(names) > 1 else {}
    return Field(default, description=about or None, **alias)


def asset(kind: str):
    """A reader of an asset reference: an http(s) URL, or a path inside the job's folder or ASSET_ROOT."""
    def read(value: Any, path: str) -> AssetRef:
        return parse_asset_ref(value, path, kind, list(_roots.get()))
    read.schema = {"type": "string", "minLength": 1, "maxLength": 4096, "pattern": ASSET_PATTERN,
                   "description": f"{kind}: an http(s) URL, or a path relative to the job's folder"}
    return read


def _output_filename(value: Any, path: str) -> str:
    return safe_output_filename(string(255)(value, path), path)


_output_filename.schema = {"type": "string", "maxLength": 255}


def _raw(schema: dict):
    """A plug-in field read later, by the reader its plug-in declares for the object's kind."""
    def read(value: Any, _path: str) -> Any:
        return value
    read.schema = schema
    return read


def _param_schema(p: catalogue.Param) -> dict:
    if p.asset:
        found = schema_of(asset(p.asset))
    elif p.schema is not None:
        found = dict(p.schema)
    else:
        found = schema_of(p.check)
    if p.about:
        found["description"] = p.about
    return found


# ---------------------------------------------------------------- the objects
class Voice(Part):
    """A voice: the job's (`voice`) or one scene's (dialogue)."""
    provider: Annotated[Optional[str], Check(one_of(*VOICE_PROVIDERS))] = F(
        None, about="piper or chatterbox; default: the worker's TTS_PROVIDER")
    name: Annotated[str, Check(string(200))] = F("", "name", "voice", about="a named voice; empty: the default voice")
    speed: Annotated[float, Check(number(0.5, 2.0))] = F(1.0)
    exaggeration: Annotated[float, Check(number(0.0, 2.0))] = F(0.5, about="chatterbox: expressiveness")
    cfg_weight: Annotated[float, Check(number(0.0, 1.0))] = F(0.5, "cfg_weight", "cfgWeight",
                                                               about="chatterbox: pace and adherence")


class Image(Part):
    """Defaults for generated pictures."""
    provider: Annotated[Optional[str], Check(one_of(*IMAGE_PROVIDERS))] = F(
        None, about="simple, diffusers or openai; default: the worker's IMAGE_PROVIDER")
    model: Annotated[str, Check(string(300))] = F("")
    steps: Annotated[int, Check(number(1, 150, integer=True))] = F(4, "steps", "num_inference_steps")
    guidance_scale: Annotated[float, Check(number(0, 30))] = F(0.0, "guidance_scale", "guidance")
    negative_prompt: Annotated[str, Check(string(2000))] = F("", "negative_prompt", "negativePrompt")
    seed: Annotated[int, Check(number(0, 2**32 - 1, integer=True))] = F(0)
    width: Annotated[int, Check(multiple_of_8)] = F(512)
    height: Annotated[int, Check(multiple_of_8)] = F(512)


class Audio(Part):
    """The soundtrack's loudness."""
    loudness: Annotated[Any, Check(loudness)] = F(
        None, about='integrated target in LUFS, or "off"; default: the platform\'s, else LOUDNESS_TARGET')
    true_peak: Annotated[float, Check(number(-9, 0))] = F(-1.5, "true_peak", "truePeak", about="dBTP")


class TextOverlay(Part):
    """A scene's title (`text`); `"text": "Title"` is short for `{"content": "Title"}`."""
    content: Annotated[str, Check(string(LIMITS.max_title_chars))] = F("", "content", "text")
    position: Annotated[str, Check(one_of(*POSITIONS))] = F("center")
    fontsize: Annotated[int, Check(number(8, 400, integer=True))] = F(80, "fontsize", "font_size", "fontSize")
    color: Annotated[str, Check(colour)] = F("white")

    def finish(self) -> None:
        if not self.content.strip() and not self.typo_for("content"):
            problem(JobInvalid(self.at("content"), "a title needs non-empty content"))


def _text(value: Any, path: str) -> TextOverlay:
    return read_model(TextOverlay)({"content": value} if isinstance(value, str) else value, path)


class Video(Part):
    """The picture: size (or a preset or platform), frame rate, transitions, quality."""
    width: Annotated[Optional[int], Check(even_size)] = F(
        None, about="pixels, even; with height; default 1080x1920, the preset's or the platform's")
    height: Annotated[Optional[int], Check(even_size)] = F(None, about="pixels, even; with width")
    preset: Annotated[Optional[str], Check(one_of(*PRESETS))] = F(
        None, about=", ".join(f"{k} {w}x{h}" for k, (w, h) in PRESETS.items()))
    fps: Annotated[Optional[int], Check(number(1, 60, integer=True))] = F(None, about="default 30 (the platform's)")
    transition: Annotated[str, Check(named("transition"))] = F("crossfade", about="between scenes")
    transition_duration: Annotated[float, Check(number(0, 2))] = F(
        0.5, "transition_duration", "transitionDuration", about="seconds")
    quality: Annotated[str, Check(one_of(*QUALITIES))] = F("standard")
    platform: Annotated[Optional[str], Check(one_of(*PLATFORMS))] = F(
        None, about="its defaults and its upload limits")

    def finish(self) -> None:
        if self.has("width") != self.has("height"):
            missing = "height" if self.has("width") else "width"
            if not self.typo_for(missing):
                problem(JobInvalid(self.at(missing), "width and height must be given together"))

class Subtitles(Part):
    """Burnt-in captions; given, they are on for every narrated scene that does not say false."""
    words_per_line: Annotated[int, Check(number(1, 20, integer=True))] = F(4, "words_per_line", "wordsPerLine")
    font_size: Annotated[int, Check(number(8, 400, integer=True))] = F(
        0, "font_size", "fontsize", "fontSize", about="0: scaled to the frame")
    position: Annotated[str, Check(one_of(*POSITIONS))] = F("bottom")
    color: Annotated[str, Check(colour)] = F("white")
    stroke_color: Annotated[str, Check(colour)] = F("black", "stroke_color", "strokeColor")
    style: Annotated[str, Check(named("caption_style"))] = F("phrase")
    highlight_color: Annotated[str, Check(colour)] = F("#FFD400", "highlight_color", "highlightColor")
    uppercase: Annotated[bool, Check(boolean)] = F(False)


class SceneBase(Part):
    """One scene: a picture or clip, its narration, title, captions and move."""
    type: Annotated[str, Check(named("scene_kind"))] = F("image", about="the scene kind")
    image: Annotated[Optional[AssetRef], Check(asset("image"))] = F(
        None, "image", "image_url", "imageUrl", about="picture of an image scene")
    image_prompt: Annotated[str, Check(string(LIMITS.max_prompt_chars))] = F(
        "", "image_prompt", "promptImage", "prompt_image", about="picture to generate when image is absent")
    video: Annotated[Optional[AssetRef], Check(asset("video"))] = F(
        None, "video", "video_url", "videoUrl", about="clip of a video scene")
    narration: Annotated[Optional[AssetRef], Check(asset("audio"))] = F(
        None, "narration", "narration_url", "narrationUrl", about="recorded narration")
    narration_text: Annotated[str, Check(string(LIMITS.max_scene_narration_chars))] = F(
        "", "narration_text", "narrationText", about="narration to speak (or the recording's transcript)")
    duration: Annotated[Optional[float], Check(number(LIMITS.min_scene_seconds, LIMITS.max_scene_seconds))] = F(
        None, about="seconds; required without narration")
    text: Annotated[Optional[TextOverlay], Check(_text, of=Optional[str | TextOverlay])] = F(None, about="title")
    subtitle: Annotated[Optional[bool], Check(boolean)] = F(
        None, "subtitle", "subtitles", about="captions of this scene's narration; default: on when the "
                                             "job has a subtitles object and the scene is narrated")
    motion: Annotated[str, Check(named("motion"))] = F("zoom_in", about="camera move on stills")
    music: Annotated[Optional[AssetRef], Check(asset("audio"))] = F(None, "music", "music_url")
    scene_id: Annotated[str, Check(string(128))] = F("", "scene_id", "sceneId")
    volume: Annotated[float, Check(number(0, 2))] = F(1.0, about="a video scene's own sound")
    voice: Annotated[Optional[Voice], Check(read_model(Voice), of=Optional[Voice])] = F(
        None, about="this scene's own voice (dialogue)")
    transition: Annotated[Optional[str], Check(named("transition"))] = F(
        None, about="into the next scene; default: video.transition")

    @classmethod
    def unread(cls, name: str, before: dict) -> bool:
        """A field another scene kind owns is not read for this one (the kind check refuses it)."""
        kind = before.get("type")
        entry = catalogue.resolve("scene_kind", kind) if isinstance(kind, str) else None
        if entry is None or name in entry.params or name in entry.owns:
            return False
        return any(name in other.owns for other in catalogue.entries("scene_kind"))


def _job_schema_extra(schema: dict, model: Any) -> None:
    add_spellings(schema, model)
    schema["required"] = ["scenes"]


class JobBase(Part):
    """A video job (format version 1)."""
    model_config = {"title": "ProtoVideo job", "json_schema_extra": _job_schema_extra}
    id: Annotated[Optional[str], Check(job_id)] = F(None, "id", "job_id", about="assigned when missing")
    version: Annotated[Optional[int], Check(number(1, 1, integer=True))] = F(None, about="the format's version: 1")
    priority: Annotated[str, Check(one_of(*PRIORITIES))] = F("normal")
    output_filename: Annotated[str, Check(_output_filename)] = F(
        "", "output_filename", "outputFilename", about="a basename ending in .mp4; never a path")
    scenes: Annotated[list, Check(_raw({"type": "array"}))] = F(None, about="required: 1 to 200 scenes")
    narration_text: Annotated[str, Check(string(LIMITS.max_job_narration_chars))] = F(
        "", "narration_text", "narrationText", about="narration spread over all scenes")
    global_audio_prompt_url: Annotated[Optional[AssetRef], Check(asset("audio"))] = F(
        None, "global_audio_prompt_url", "audio_prompt_url", "globalAudioPromptUrl",
        about="reference voice for cloning (chatterbox)")
    voice: Annotated[Optional[Voice], Check(read_model(Voice), of=Optional[Voice])] = F(None)
    image: Annotated[Optional[Image], Check(read_model(Image), of=Optional[Image])] = F(None)
    video: Annotated[Optional[Video], Check(read_model(Video), of=Optional[Video])] = F(None)
    subtitles: Annotated[Optional[Subtitles], Check(read_model(Subtitles), of=Optional[Subtitles])] = F(
        None, "subtitles", "global_subtitle_config")
    music: Annotated[Optional[AssetRef], Check(asset("audio"))] = F(
        None, "music", "music_url", about="background music, ducked under speech")
    music_volume: Annotated[float, Check(number(0, 1))] = F(0.15, "music_volume", "musicVolume")
    callback_url: Annotated[str, Check(http_url())] = F(
        "", "callback_url", "callbackUrl", "webhook_url", about="the final record is POSTed there")
    audio: Annotated[Optional[Audio], Check(read_model(Audio), of=Optional[Audio])] = F(None)
    overlays: Annotated[list, Check(_raw({"type": "array"}))] = F([], about="layers over the whole video")
    # read from the JSON before the model is (jobmodel/prepare.py): declared here for the schema
    stock: Annotated[Optional[StockDefaults], Check(read_model(StockDefaults), of=Optional[StockDefaults])] = F(
        None, about="defaults for the scenes' stock searches")
    variables: Annotated[Optional[dict], Check(read_variables)] = F(
        None, "variables", "vars", about="values of the {{name}} placeholders in the job's strings")

    def finish(self) -> None:
        if not self.has("scenes") and not self.typo_for("scenes"):
            problem(JobInvalid(self.at("scenes"), f"is required: a list of 1 to {LIMITS.max_scenes} scenes"))


SCENE_BASE, JOB_BASE = SceneBase, JobBase


class Models:
    """The models of one state of the catalogue."""

    def __init__(self, video, subtitles, scene, overlay_models, job):
        self.Video, self.Subtitles, self.Scene, self.overlays, self.Job = (
            video, subtitles, scene, overlay_models, job)


def _build() -> Models:
    kinds = catalogue.entries("scene_kind")
    params: dict[str, tuple[list[str], dict]] = {}
    for entry in kinds:
        for pname, p in entry.params.items():
            names, schema = params.setdefault(pname, ([], _param_schema(p)))
            names += [a for a in p.aliases if a not in names]
    plugin_fields = {pname: (Annotated[Any, Check(_raw(schema))],
                             F(None, pname, *sorted(aliases)) if aliases else F(None))
                     for pname, (aliases, schema) in params.items()}

    Scene = create_model("Scene", __base__=SceneBase, __doc__=SceneBase.__doc__, **plugin_fields)

    overlay_models = {}
    for entry in catalogue.entries("overlay"):
        fields = {"type": (Annotated[str, Check(named("overlay"))], F(entry.name))}
        for pname, p in entry.params.items():
            reader = asset(p.asset) if p.asset else (p.check or _raw({}))
            if p.check is None and not p.asset:
                reader = _raw(_param_schema(p))
            fields[pname] = (Annotated[Any, Check(reader, schema=_param_schema(p))],
                             F(p.default, pname, *p.aliases) if p.aliases else F(p.default))
        model = create_model(f"Overlay_{entry.name}", __base__=Part, __doc__=entry.about or None, **fields)
        overlay_models[entry.name] = model

    def overlays(value: Any, path: str) -> list:
        if not isinstance(value, list):
            raise JobInvalid(path, f"must be a list of overlays, got {type_name(value)}")
        if len(value) > MAX_OVERLAYS:
            raise JobInvalid(path, f"holds {len(value)} overlays; the limit is {MAX_OVERLAYS}")
        found = []
        for index, item in enumerate(value):
            read = attempt(_overlay, item, f"{path}[{index}]", overlay_models)
            if read is not None:
                found.append((index, read))
        return found

    def scenes(value: Any, path: str) -> list:
        if not isinstance(value, list):
            raise JobInvalid(path, f"must be a list, got {type_name(value)}")
        if not 1 <= len(value) <= LIMITS.max_scenes:
            problem(JobInvalid(path, f"must hold 1 to {LIMITS.max_scenes} scenes, got {len(value)}"))
        read = read_model(Scene)
        found = []
        for index, item in enumerate(value[:LIMITS.max_scenes]):
            scene = attempt(read, item, f"{path}[{index}]")
            if scene is not None:
                found.append((index, scene))
        return found

    job = create_model(
        "Job", __base__=JobBase, __doc__=JobBase.__doc__,
        scenes=(Annotated[list, Check(scenes, of=list[Scene], schema={"minItems": 1, "maxItems": LIMITS.max_scenes})],
                F(None, about="required: 1 to 200 scenes")),
        overlays=(Annotated[list, Check(overlays, of=list[_overlay_union(overlay_models)],
                                        schema={"maxItems": MAX_OVERLAYS})],
                  F([], about="layers over the whole video; each kind is a plug-in")))
    return Models(Video, Subtitles, Scene, overlay_models, job)


def _overlay_union(models: dict) -> Any:
    return Union[tuple(models.values())] if len(models) > 1 else next(iter(models.values()), dict)


def _overlay(item: Any, path: str, models: dict) -> Part:
    if not isinstance(item, dict):
        raise JobInvalid(path, f"must be an object with a 'type', got {type_name(item)}")
    if "type" not in item:
        raise JobInvalid(f"{path}.type", f"is required: one of {', '.join(catalogue.spelled('overlay'))}")
    name = named("overlay")(item["type"], f"{path}.type")
    model = read_model(models[name])(item, path)
    entry = catalogue.resolve("overlay", name)
    for pname, p in entry.params.items():
        if p.required and not model.has(pname) and not model.typo_for(pname):
            problem(JobInvalid(model.at(pname), f"is required for {entry.name}"))
    return model


_cache: dict[tuple, Models] = {}


def _fingerprint() -> tuple:
    return tuple((kind, tuple((e.name, e.aliases, tuple(e.params), e.owns) for e in catalogue.entries(kind)))
                 for kind in catalogue.KINDS)


def job_models() -> Models:
    """The models for the plug-ins declared now (CatalogueNotLoaded before they are loaded)."""
    key = _fingerprint()
    if key not in _cache:
        _cache.clear()
        _cache[key] = _build()
    return _cache[key]


@contextmanager
def using_roots(roots: list) -> Iterator[None]:
    """Asset paths of what is read inside resolve against these folders."""
    token = _roots.set(tuple(roots))
    try:
        yield
    finally:
        _roots.reset(token)


def read_job_model(data: Any, roots: list) -> Any:
    """The job's model; every problem reported through jobmodel.problems. None when the job is
    not even an object."""
    with using_roots(roots):
        return attempt(read_model(job_models().Job), data, "")


def job_json_schema() -> dict:
    """The JSON Schema (draft 2020-12) of a job, for the plug-ins declared now."""
    schema = job_models().Job.model_json_schema()
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID, **schema}
