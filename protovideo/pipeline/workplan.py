"""A job's work, predicted before it runs: units of work in lanes, each with its cost.

    plan = WorkPlan(job, qc=settings.QC != "off", loaded=runtime.models.loaded())
    plan.units["body:2"]        # Unit(key="body:2", lane="scenes", cost=3.1, scene=2, frames=171, lag=14)
    plan.scene_length(2, 171)   # scene 2 turned out 171 frames: its pieces are costed again

A unit is one thing the pipeline does: a scene's narration, its picture, a piece to encode (a scene
body or a transition), the soundtrack, the join (with the poster), QC, publishing. Its cost is in
*reference seconds*: the wall seconds it takes on the 2-core machine of benchmarks/RESULTS.md with
nothing else running. Encoding is priced by frames x megapixels x the quality level's x264 cost
(draft, standard and high differ about 7x, RESULTS "Each level at its own settings"), narration by
its characters and voice provider, the soundtrack and join by the video's seconds, QC by its
frames. A scene's length follows its narration, so until the narration is made it is predicted
from the text (SPEECH_CHARS_PER_S); `scene_length` replaces it with the real one.

The table sets the proportions and the first guess; how fast this machine really goes is learnt
from earlier jobs (protovideo.pipeline.pace) and from the job itself (protovideo.pipeline.progress).
Its figures were measured on the 2-core machine of benchmarks/RESULTS.md, under load (the
"Issue 28: progress and ETA" section): the steps' seconds relative to one another.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Hashable, Iterable, Mapping

from generators.compose import plan_pieces
from generators.scenes import kind_of
from generators.overlays import overlay_plugin
from generators.timeline import DEFAULT_SCENE_SECONDS, LEAD, TAIL, transitions
from generators.narration import scene_texts

LANES = ("narration", "pictures", "scenes", "transitions", "soundtrack", "join", "qc", "publish")
PIECES = ("scenes", "transitions")   # scene bodies and transitions encode side by side (generators/piece_queue.py)


def _frozen(**values: float) -> Mapping[str, float]:
    return MappingProxyType(values)


@dataclass(frozen=True)
class CostTable:
    """Reference seconds (2 cores, quiet) per unit of work, from benchmarks/RESULTS.md."""
    tts_s_per_char: Mapping[str, float] = field(default_factory=lambda: _frozen(piper=0.013, chatterbox=0.2))
    tts_s_per_scene: float = 0.05
    voice_load_s: Mapping[str, float] = field(default_factory=lambda: _frozen(piper=2.5, chatterbox=20.0))
    recorded_s_per_scene: float = 0.3          # word times aligned to a recording
    speech_chars_per_s: float = 17.7           # Piper's en_US voice at speed 1 (the benchmark reel)
    picture_s_per_mpx: Mapping[str, float] = field(default_factory=lambda: _frozen(simple=0.2))
    picture_s: Mapping[str, float] = field(default_factory=lambda: _frozen(diffusers=20.0, openai=8.0))
    fetched_picture_s: float = 0.1
    # x264 plus frame making, per megapixel-frame of a scene body (RESULTS: 1080x1920 bodies 15.5 s for
    # 656 frames at standard; x264 alone 4.5 / 15.3 / 62.8 CPU s at draft / standard / high)
    encode_s_per_mpx: Mapping[str, float] = field(
        default_factory=lambda: _frozen(draft=0.0053, standard=0.0114, high=0.038))
    transition_factor: float = 2.5             # a transition frame: two scenes, one encoder thread, short piece
    piece_s: float = 0.1                       # an encoder's start and drain
    # frames x264 holds before it gives the first one back (lookahead, frame threads): a piece's
    # first frames go into the encoder at once, so they tell nothing of its speed
    encoder_lag: Mapping[str, int] = field(default_factory=lambda: _frozen(draft=4, standard=14, high=24))
    # decoding (QC, the poster) and copying (the join) cost more for the bigger files of high
    bits_factor: Mapping[str, float] = field(default_factory=lambda: _frozen(draft=1.0, standard=1.0, high=5.0))
    soundtrack_s_per_s: float = 0.25           # mix, loudness normalization (limiter), AAC
    soundtrack_s: float = 0.2
    join_s_per_s: float = 0.01                 # stream copy and mux, then the poster frame
    join_s: float = 0.15
    qc_s_per_mpx: float = 0.0012               # QC decodes every frame once
    qc_s: float = 0.15
    publish_s: float = 0.05

    def tts(self, provider: str) -> float:
        return self.tts_s_per_char.get(provider, self.tts_s_per_char["piper"])

    def picture(self, provider: str, mpx: float) -> float:
        if provider in self.picture_s_per_mpx:
            return self.picture_s_per_mpx[provider] * mpx
        return self.picture_s.get(provider, self.picture_s["openai"])


COSTS = CostTable()


@dataclass
class Unit:
    key: str          # "narration:0", "picture:0", "body:0", "transition:0", "soundtrack", "join", "qc", "publish"
    lane: str
    cost: float       # reference seconds
    scene: int | None = None
    frames: int = 0   # a piece's frames (its progress is told frame by frame)
    lag: int = 0      # of which the encoder takes this many before it has made any


class WorkPlan:
    """The units of one job, in the order the pipeline meets them."""

    def __init__(self, job, qc: bool = True, costs: CostTable = COSTS, loaded: Iterable[Hashable] = ()):
        """`loaded`: the keys of the models this process holds (a voice not among them is loaded by
        the first scene that speaks with it)."""
        self.job, self.costs = job, costs
        self._unloaded = {p for p in costs.voice_load_s
                          if not any(isinstance(k, tuple) and k[:2] == ("tts", p) for k in loaded)}
        v = job.video
        self.fps, self.mpx = v.fps, v.width * v.height / 1e6
        level = v.quality if v.quality in costs.encode_s_per_mpx else "standard"
        self.encode, self.lag = costs.encode_s_per_mpx[level], costs.encoder_lag[level]
        self.bits = costs.bits_factor[level]
        self.scenes = len(job.scenes)
        texts = scene_texts(job)
        self.frames = [self._predicted_frames(scene, texts[scene.index]) for scene in job.scenes]
        # an overlay that shows the video's length (a progress bar) holds every piece until the last scene
        self.streams = not any(overlay_plugin(o.type).trait("whole_video", False) for o in job.overlays)
        self.units: dict[str, Unit] = {}
        for scene in job.scenes:
            self._add(f"narration:{scene.index}", "narration", self._narration(scene, texts[scene.index]), scene.index)
        for scene in job.scenes:
            self._add(f"picture:{scene.index}", "pictures", self._picture(scene), scene.index)
        self._cost_pieces()
        for key, lane in (("soundtrack", "soundtrack"), ("join", "join"), ("qc", "qc"), ("publish", "publish")):
            if qc or key != "qc":
                self._add(key, lane, 0.0)
        self._cost_whole()

    # -- building -----------------------------------------------------------------
    def _add(self, key: str, lane: str, cost: float, scene: int | None = None, frames: int = 0) -> None:
        self.units[key] = Unit(key, lane, max(0.0, cost), scene, frames, min(frames, self.lag) if frames else 0)

    def _predicted_frames(self, scene, text: str) -> int:
        speech = len(text.strip()) / self.costs.speech_chars_per_s
        needed = LEAD + speech / max(0.1, (scene.voice or self.job.voice).speed) + TAIL if speech else 0.0
        seconds = max(scene.duration or 0.0, needed) or DEFAULT_SCENE_SECONDS
        return max(1, round(seconds * self.fps))

    def _narration(self, scene, text: str) -> float:
        if scene.narration is not None and not self.job.narration_text.strip():
            return self.costs.recorded_s_per_scene
        if not text.strip():
            return 0.0
        provider = (scene.voice or self.job.voice).provider
        load = self.costs.voice_load_s[provider] if provider in self._unloaded else 0.0
        self._unloaded.discard(provider)
        return load + self.costs.tts_s_per_scene + self.costs.tts(provider) * len(text)

    def _picture(self, scene) -> float:
        if kind_of(scene.type).trait("picture") and scene.image is None:
            return self.costs.picture(self.job.image.provider, self.mpx * 1.3)   # drawn with a margin to move in
        return self.costs.fetched_picture_s if (scene.image or scene.video) is not None else 0.0

    def _cost_pieces(self) -> None:
        pieces = plan_pieces(self.frames, self.fps, transitions(self.job), self.job.video.transition_duration)
        for key in [k for k, u in self.units.items() if u.lane in PIECES]:
            del self.units[key]
        for piece in pieces:
            body = piece.kind == "body"
            per_frame = self.encode * self.mpx * (1.0 if body else self.costs.transition_factor)
            self._add(f"{piece.kind}:{piece.scenes[0]}", "scenes" if body else "transitions",
                      self.costs.piece_s + per_frame * piece.frames,
                      piece.scenes[0] if piece.kind == "body" else piece.scenes[1], piece.frames)

    def _cost_whole(self) -> None:
        """The units of the whole video: their cost follows its length."""
        c, seconds = self.costs, sum(self.frames) / self.fps
        self.units["soundtrack"].cost = c.soundtrack_s + c.soundtrack_s_per_s * seconds
        self.units["join"].cost = c.join_s + c.join_s_per_s * seconds * self.bits
        if "qc" in self.units:
            self.units["qc"].cost = c.qc_s + c.qc_s_per_mpx * self.mpx * sum(self.frames) * self.bits
        self.units["publish"].cost = c.publish_s

    # -- learning -----------------------------------------------------------------
    def scene_length(self, index: int, frames: int) -> set[str]:
        """Scene `index` has `frames` frames: the pieces (and the whole-video units) costed again.
        Returns the keys of the pieces that exist now (a transition may appear or go)."""
        if 0 <= index < self.scenes and self.frames[index] != frames:
            self.frames[index] = frames
            kept = {k: u for k, u in self.units.items() if u.lane not in PIECES}
            self._cost_pieces()
            pieces = {k: u for k, u in self.units.items() if u.lane in PIECES}
            self.units = {**{k: u for k, u in kept.items() if u.lane in ("narration", "pictures")}, **pieces,
                          **{k: u for k, u in kept.items() if u.lane not in ("narration", "pictures")}}
            self._cost_whole()
        return {k for k, u in self.units.items() if u.lane in PIECES}

    def lane_cost(self, lane: str) -> float:
        return sum(u.cost for u in self.units.values() if u.lane == lane)

    def total(self) -> float:
        return sum(u.cost for u in self.units.values())
