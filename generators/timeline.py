"""From the job to what the renderer draws: scene lengths, scene visuals, the job's overlays.

The pipeline (protovideo/pipeline/render.py) asks, scene by scene as narration is ready:

    scene_frames(scene, speech, fps)         how long the scene lasts (it follows the speech)
    scene_visual(job, scene, speech, files, frames)   its SceneVisual (generators/visual.py)

and once per job `transitions(job)` (the name at each boundary), `overlay_uses(job, fetch)`
(the job's overlays with their files fetched) and `video_cues` (the captions in the
video's time, for the .srt/.vtt beside it). Nothing here knows a scene kind or an
overlay by name: their fields travel as the plug-in declared them (`params`).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from .overlays import overlay_plugin
from .pictures import SceneFiles
from .speech import Speech
from .subtitles import Cue, cues_for, shift_cues
from .visual import OverlayUse, Params, SceneVisual, TextSpec

LEAD = 0.25   # seconds of picture before the narration starts
TAIL = 0.5    # seconds after it ends
DEFAULT_SCENE_SECONDS = 2.0  # a scene with neither duration nor words (global narration ran out)


def scene_frames(scene, speech: Speech | None, fps: int) -> int:
    """The scene's frames: its duration, never shorter than its narration with LEAD and TAIL."""
    needed = LEAD + speech.duration + TAIL if speech else 0.0
    seconds = max(scene.duration or 0.0, needed) or DEFAULT_SCENE_SECONDS
    return max(1, int(round(seconds * fps)))


def scene_cues(job, speech: Speech | None) -> list[Cue]:
    """Caption lines of a scene's narration, in the scene's own time (from its first frame)."""
    if speech is None or not speech.sentences:
        return []
    return cues_for(speech.sentences, job.subtitles.words_per_line, offset=LEAD)


def video_cues(job, speeches: Sequence[Speech | None], counts: Sequence[int]) -> list[Cue]:
    """The caption lines of every captioned scene (`subtitle`) in the video's time: what the
    .srt/.vtt files hold (none for a job without captions)."""
    cues, start = [], 0
    for scene, speech, n in zip(job.scenes, speeches, counts):
        if scene.subtitle:
            cues.extend(shift_cues(scene_cues(job, speech), start / job.video.fps))
        start += n
    return cues


def _scaled_text(job) -> tuple[float, TextSpec]:
    v, style = job.video, job.subtitles
    scale = min(v.width, v.height) / 1080.0
    sub_size = style.font_size * scale if style.font_size else min(v.width, v.height) * 0.06
    return scale, TextSpec("", style.position, max(8, int(sub_size)), style.color, style.stroke_color, True,
                           style=style.style, highlight_color=style.highlight_color, uppercase=style.uppercase)


def with_files(params: Params, files: SceneFiles | dict) -> Params:
    """The params with each fetched file in place of its asset reference."""
    local = dict(files.files) if isinstance(files, SceneFiles) else dict(files)
    return tuple((name, local.get(name, value)) for name, value in params)


def scene_visual(job, scene, speech: Speech | None, files: SceneFiles, frames: int) -> SceneVisual:
    v = job.video
    scale, sub_style = _scaled_text(job)
    title = None
    if scene.text is not None:
        t = scene.text
        title = TextSpec(t.content, t.position, max(8, int(t.fontsize * scale)), t.color)
    cues = ()
    if scene.subtitle:   # the job model turns it on for a job-wide narration (jobmodel/spec.py)
        cues = tuple(scene_cues(job, speech))
    video = files.file("video")
    return SceneVisual(width=v.width, height=v.height, fps=v.fps, frames=frames, kind=scene.type,
                       motion=scene.motion if video is None else "none",
                       picture=files.picture, video=video, title=title, cues=cues,
                       subtitle_style=sub_style if cues else None,
                       params=with_files(scene.params, files), index=scene.index)


def transitions(job) -> list[str]:
    """The transition at each boundary: scene i's own `transition`, else `video.transition`."""
    return [job.transition_after(i) for i in range(len(job.scenes) - 1)]


def overlay_uses(job, fetch: Callable[[object], Path]) -> tuple[OverlayUse, ...]:
    """The job's overlays, each file the overlay declared (`asset=` params) fetched."""
    uses = []
    for spec in job.overlays:
        assets = overlay_plugin(spec.type).assets
        files = {name: fetch(spec.param(name)) for name in assets if spec.param(name) is not None}
        uses.append(OverlayUse(spec.type, with_files(spec.params, files), spec.index))
    return tuple(uses)
