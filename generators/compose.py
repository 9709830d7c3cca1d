"""Composition: the job's timeline cut into pieces (scene bodies and transitions).

Each piece is rendered and encoded on its own and cached under a key made of
everything it depends on, so re-rendering a job with one scene changed encodes
only the pieces that scene touches. Pieces are joined later by stream copy.

Timeline: scene i owns frames [start_i, start_i + n_i). A crossfade between
scenes i and i+1 spans h frames either side of their boundary; the bodies
exclude those frames.
"""
from __future__ import annotations

import contextlib
import dataclasses
import tempfile
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

from cache import make_key
from cache.keys import file_md5

from jobmodel.errors import SceneError

from .encode import EncoderSettings, FrameEncoder
from .frames import SceneFrames, crossfade
from .visual import SceneVisual


RENDERER_VERSION = 5  # bump when frames for the same inputs would come out differently (5: safe area per aspect, titles kept off captions, bidi per paragraph)


@dataclass(frozen=True)
class Piece:
    kind: str                 # body | transition
    scenes: tuple[int, ...]   # (i,) or (i, i+1)
    first: int                # body: first local frame; transition: half-width h
    last: int                 # body: one past the last local frame; transition: 2h

    @property
    def frames(self) -> int:
        return self.last - self.first if self.kind == "body" else self.last


def plan_pieces(frame_counts: list[int], fps: int, transition: str, seconds: float) -> list[Piece]:
    halves = []
    for i in range(len(frame_counts) - 1):
        h = 0
        if transition == "crossfade" and seconds > 0:
            h = min(int(round(seconds * fps / 2)), frame_counts[i] // 3, frame_counts[i + 1] // 3)
        halves.append(h)
    pieces: list[Piece] = []
    for i, n in enumerate(frame_counts):
        head = halves[i - 1] if i > 0 else 0
        tail = halves[i] if i < len(halves) else 0
        if n - head - tail > 0:
            pieces.append(Piece("body", (i,), head, n - tail))
        if i < len(halves) and halves[i] > 0:
            pieces.append(Piece("transition", (i, i + 1), halves[i], 2 * halves[i]))
    return pieces


def visual_identity(visual: SceneVisual, md5s: dict[Path, str]) -> dict:
    ident = asdict(visual)
    for name in ("picture", "video"):
        path = getattr(visual, name)
        if path is not None:
            if path not in md5s:
                md5s[path] = file_md5(path)
            ident[name] = md5s[path]
    ident.pop("index", None)
    return ident


def piece_key(piece: Piece, visuals: list[SceneVisual], enc: EncoderSettings,
              md5s: dict[Path, str]) -> str:
    return make_key("piece", renderer=RENDERER_VERSION, piece_kind=piece.kind, first=piece.first, last=piece.last,
                    scenes=[visual_identity(visuals[i], md5s) for i in piece.scenes],
                    encoder=enc.identity())


def render_piece(piece: Piece, visuals: list[SceneVisual], enc: EncoderSettings, out: Path,
                 cancel=None, feeding=contextlib.nullcontext(), timing=contextlib.nullcontext()) -> None:
    """Make the piece's frames and encode them into `out`.

    `feeding` is held while frames are made and written, not while x264 drains the
    frames it still holds after the last one: the next piece starts feeding then.
    `timing` (a step timer) runs from this piece's turn to the end of its encoder, so
    the time spent waiting for the turn is not counted as work.
    """
    with contextlib.ExitStack() as timed:
        sources: list[SceneFrames] = []
        try:
            for i in piece.scenes:   # pictures are loaded before it is this piece's turn to feed
                sources.append(SceneFrames(visuals[i]))
            with feeding:
                timed.enter_context(timing)
                encoder = FrameEncoder(out, enc)
                try:
                    _feed(piece, visuals, sources, encoder, cancel)
                    encoder.end_input()
                except BaseException:
                    encoder.abort()
                    raise
        finally:
            for source in sources:
                source.close()
            sources.clear()   # pictures and frame buffers are not kept while x264 drains
        encoder.wait()


def _feed(piece: Piece, visuals: list[SceneVisual], sources: list[SceneFrames], encoder: FrameEncoder,
          cancel) -> None:
    if piece.kind == "body":
        for i in range(piece.first, piece.last):
            if cancel is not None and cancel.is_set():   # every frame: a cancel stops within one
                raise InterruptedError("cancelled")
            encoder.write(sources[0].frame(i))
    else:
        a, b = sources
        h = piece.first
        n_a = visuals[piece.scenes[0]].frames
        mixed = None
        for k in range(2 * h):
            if cancel is not None and cancel.is_set():
                raise InterruptedError("cancelled")
            alpha = (k + 0.5) / (2 * h)
            mixed = crossfade(a.frame(n_a - h + k), b.frame(k - h), alpha, mixed)
            encoder.write(mixed)


class PieceQueue:
    """Renders pieces as soon as the scenes they need are known.

    Scenes are added in timeline order as their narration is ready; a body needs
    its own scene and the lengths of its neighbours (for the crossfades), a
    transition the two scenes it joins. So encoding starts while later scenes
    are still being narrated, and the encoder is never left waiting for the voice.
    """

    def __init__(self, ctx, enc: EncoderSettings, transition: str, seconds: float, workers: int,
                 scenes: int = 0):
        self.ctx, self.enc = ctx, enc
        self.scenes = scenes          # the job's scene count: progress is told in scenes rendered
        self.transition, self.seconds = transition, seconds
        self.visuals: list[SceneVisual] = []
        self._futures: dict[Piece, Future] = {}
        self._md5s: dict[Path, str] = {}
        self.keys: dict[Piece, str] = {}   # each rendered piece's cache key (the joined file's key is made of them)
        self._bodies_done = 0
        self._count_lock = threading.Lock()
        # `workers` pieces are fed at once; one more thread lets a piece's encoder drain
        # (x264 finishing the frames it holds) while the next piece is already fed
        self._feeding = threading.Semaphore(max(1, workers))
        self._pool = ThreadPoolExecutor(max_workers=max(1, workers) + 1, thread_name_prefix="piece")
        # transitions are short: one single-threaded encoder beside the scene bodies fills the
        # gaps a frame-threaded x264 leaves while it starts and drains each piece
        self._side_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="transition")
        self._side_enc = dataclasses.replace(enc, threads=1)

    def _plan(self) -> list[Piece]:
        return plan_pieces([v.frames for v in self.visuals], self.enc.fps, self.transition, self.seconds)

    def add_scene(self, visual: SceneVisual) -> None:
        self.visuals.append(visual)
        last = len(self.visuals) - 1
        for piece in self._plan():
            if piece not in self._futures and not (piece.kind == "body" and piece.scenes[0] == last):
                self._submit(piece)

    def finish(self) -> tuple[list[Piece], list[Path]]:
        """Wait for every piece of the whole timeline; paths in timeline order."""
        pieces = self._plan()
        for piece in pieces:
            if piece not in self._futures:
                self._submit(piece)
        return pieces, [self._futures[p].result() for p in pieces]

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._side_pool.shutdown(wait=True, cancel_futures=True)

    def _submit(self, piece: Piece) -> None:
        if piece.kind == "transition":
            self._futures[piece] = self._side_pool.submit(self._render, piece, self._side_enc)
        else:
            self._futures[piece] = self._pool.submit(self._render, piece, self.enc, self._feeding)

    def _render(self, piece: Piece, enc: EncoderSettings, feeding=contextlib.nullcontext()) -> Path:
        ctx = self.ctx
        scene = piece.scenes[0] if piece.kind == "body" else piece.scenes[1]
        try:
            ctx.check_cancelled()
            key = piece_key(piece, self.visuals, self.enc, self._md5s)
            self.keys[piece] = key
            step = "render_scene" if piece.kind == "body" else "render_transition"

            def produce(tmp: Path) -> None:
                timing = ctx.optimizer.monitor_performance(step, piece.scenes[0] if piece.kind == "body" else None)
                render_piece(piece, self.visuals, enc, tmp, ctx.cancel, feeding, timing)

            path = ctx.cache.get_or_create(key, ".mp4", produce)
        except BaseException as exc:  # noqa: BLE001 - reported with the scene it belongs to
            raise SceneError(scene, exc) from exc
        if piece.kind == "body":   # one progress scale for the whole job: scenes, as render.py tells it
            with self._count_lock:
                self._bodies_done += 1
                done = self._bodies_done
            ctx.report_progress(done, self.scenes or len(self.visuals), "scenes rendered")
        return path


def scratch_dir(root: Path, job_id: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f"{job_id}-", dir=root))


def total_seconds(frame_counts: list[int], fps: int) -> float:
    return sum(frame_counts) / float(fps)

