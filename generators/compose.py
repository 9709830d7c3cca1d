"""Composition: the job's timeline cut into pieces (scene bodies and transitions), each made and encoded.

Each piece is rendered and encoded on its own and cached under a key made of
everything it depends on (generators/piece_keys.py), so re-rendering a job with one
scene changed encodes only the pieces that scene touches. Pieces are joined later by
stream copy; the queue that runs them is generators/piece_queue.py.

Timeline: scene i owns frames [start_i, start_i + n_i). The transition between scenes
i and i+1 (a plug-in of generators/transitions, named per boundary) spans h frames
either side of their boundary; the bodies exclude those frames. A transition that spans
no frames (`cut`) gets h = 0 and no piece. The job's overlays (generators/overlays) are
drawn on every finished frame of a piece, at its frame number in the whole video.
"""
from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from .encode import EncoderSettings, FrameEncoder
from .frames import SceneFrames
from .overlays import Layer, overlays_for
from .transitions import Span, open_transition, spans
from .visual import Canvas, OverlayUse, SceneVisual


RENDERER_VERSION = 5  # bump when frames for the same inputs would come out differently (5: safe area per aspect, titles kept off captions, bidi per paragraph)


@dataclass(frozen=True)
class Piece:
    kind: str                 # body | transition
    scenes: tuple[int, ...]   # (i,) or (i, i+1)
    first: int                # body: first local frame; transition: half-width h
    last: int                 # body: one past the last local frame; transition: 2h
    transition: str = ""      # transition: its plug-in's name

    @property
    def frames(self) -> int:
        return self.last - self.first if self.kind == "body" else self.last


def half_width(transition: str, seconds: float, fps: int, n_a: int, n_b: int) -> int:
    """h, the frames a transition takes from either scene: half its duration, at most a third of each."""
    if seconds <= 0 or not spans(transition):
        return 0
    return min(int(round(seconds * fps / 2)), n_a // 3, n_b // 3)


def plan_pieces(frame_counts: list[int], fps: int, transitions: Sequence[str] | str,
                seconds: float) -> list[Piece]:
    """The pieces of scenes of these lengths; `transitions`: the name at each boundary (or one for all)."""
    boundaries = len(frame_counts) - 1
    names = [transitions] * boundaries if isinstance(transitions, str) else list(transitions)[:boundaries]
    halves = [half_width(names[i], seconds, fps, frame_counts[i], frame_counts[i + 1]) for i in range(boundaries)]
    pieces: list[Piece] = []
    for i, n in enumerate(frame_counts):
        head = halves[i - 1] if i > 0 else 0
        tail = halves[i] if i < boundaries else 0
        if n - head - tail > 0:
            pieces.append(Piece("body", (i,), head, n - tail))
        if i < boundaries and halves[i] > 0:
            pieces.append(Piece("transition", (i, i + 1), halves[i], 2 * halves[i], names[i]))
    return pieces


def piece_start(piece: Piece, starts: Sequence[int]) -> int:
    """The piece's first frame in the whole video (`starts`: each scene's first frame)."""
    if piece.kind == "body":
        return starts[piece.scenes[0]] + piece.first
    return starts[piece.scenes[1]] - piece.first


def render_piece(piece: Piece, visuals: list[SceneVisual], enc: EncoderSettings, out: Path,
                 cancel=None, feeding=contextlib.nullcontext(), timing=contextlib.nullcontext(),
                 overlays: Sequence[OverlayUse] = (), canvas: Canvas | None = None, at: int = 0,
                 on_frame: Callable[[], None] | None = None) -> None:
    """Make the piece's frames and encode them into `out`; `on_frame()` after each one is written
    to the encoder (the job's progress).

    The job's `overlays` are drawn on each finished frame, frame j of the piece being
    frame `at + j` of the whole video (`canvas`: its size and length).
    `feeding` is held while frames are made and written, not while x264 drains the
    frames it still holds after the last one: the next piece starts feeding then.
    `timing` (a step timer) runs from this piece's turn to the end of its encoder, so
    the time spent waiting for the turn is not counted as work.
    """
    with contextlib.ExitStack() as timed:
        sources: list[SceneFrames] = []
        layers: list[Layer] = []
        try:
            for i in piece.scenes:   # pictures are loaded before it is this piece's turn to feed
                sources.append(SceneFrames(visuals[i]))
            if overlays:
                v = visuals[piece.scenes[0]]
                layers = overlays_for(overlays, canvas or Canvas(v.width, v.height, v.fps))
            with feeding:
                timed.enter_context(timing)
                encoder = FrameEncoder(out, enc)
                try:
                    _feed(piece, visuals, sources, layers, at, encoder, cancel, on_frame or _nothing)
                    encoder.end_input()
                except BaseException:
                    encoder.abort()
                    raise
        finally:
            for closing in (*sources, *layers):
                closing.close()
            sources.clear()   # pictures and frame buffers are not kept while x264 drains
            layers.clear()
        encoder.wait()


def _check(cancel) -> None:
    if cancel is not None and cancel.is_set():   # every frame: a cancel stops within one
        raise InterruptedError("cancelled")


def _nothing() -> None:
    pass


def _feed(piece: Piece, visuals: list[SceneVisual], sources: list[SceneFrames], layers: list[Layer],
          at: int, encoder: FrameEncoder, cancel, on_frame: Callable[[], None]) -> None:
    if piece.kind == "body":
        for j, i in enumerate(range(piece.first, piece.last)):
            _check(cancel)
            frame = sources[0].frame(i)
            for layer in layers:
                layer.draw(frame, at + j)
            encoder.write(frame)
            on_frame()
        return
    a, b = sources
    h = piece.first
    first = visuals[piece.scenes[0]]
    mix = open_transition(piece.transition, Span(first.width, first.height, 2 * h))
    n_a = first.frames
    for k in range(2 * h):
        _check(cancel)
        frame = mix.frame(a.frame(n_a - h + k), b.frame(k - h), k)
        for layer in layers:
            layer.draw(frame, at + k)
        encoder.write(frame)
        on_frame()


def scratch_dir(root: Path, job_id: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f"{job_id}-", dir=root))


def total_seconds(frame_counts: list[int], fps: int) -> float:
    return sum(frame_counts) / float(fps)
