"""The piece queue: renders pieces as soon as the scenes they need are known.

Scenes are added in timeline order as their narration is ready; a body needs its own
scene and the lengths of its neighbours (for the transitions), a transition the two
scenes it joins. So encoding starts while later scenes are still being narrated, and
the encoder is never left waiting for the voice. Only a job with an overlay that needs
the whole video's length (`whole_video`, a progress bar) holds its pieces until the
last scene is known, since every one of its frames shows that length.
"""
from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import itertools
import threading
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from jobmodel.errors import SceneError

from .compose import Piece, piece_start, plan_pieces, render_piece
from .encode import EncoderSettings
from .overlays import needs_whole_video
from .piece_keys import FileHashes, piece_key
from .visual import Canvas, OverlayUse, SceneVisual


class PieceQueue:
    """`transitions`: the transition's name at each boundary (scene i into i + 1); `overlays`:
    the job's overlays, drawn on every piece."""

    def __init__(self, ctx, enc: EncoderSettings, transitions: Sequence[str], seconds: float, workers: int,
                 scenes: int = 0, overlays: Sequence[OverlayUse] = ()):
        self.ctx, self.enc = ctx, enc
        self.scenes = scenes          # the job's scene count
        self.transitions, self.seconds = list(transitions), seconds
        self.overlays = tuple(overlays)
        self._wait_for_total = needs_whole_video(self.overlays)
        self.visuals: list[SceneVisual] = []
        self.canvas: Canvas | None = None
        self._futures: dict[Piece, Future] = {}
        self._hashes = FileHashes()
        self.keys: dict[Piece, str] = {}   # each rendered piece's cache key (the joined file's key is made of them)
        # `workers` pieces are fed at once; one more thread lets a piece's encoder drain
        # (x264 finishing the frames it holds) while the next piece is already fed
        self._feeding = threading.Semaphore(max(1, workers))
        self._pool = ThreadPoolExecutor(max_workers=max(1, workers) + 1, thread_name_prefix="piece")
        # transitions are short: one single-threaded encoder beside the scene bodies fills the
        # gaps a frame-threaded x264 leaves while it starts and drains each piece
        self._side_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="transition")
        self._side_enc = dataclasses.replace(enc, threads=1)

    def _plan(self) -> list[Piece]:
        return plan_pieces([v.frames for v in self.visuals], self.enc.fps, self.transitions, self.seconds)

    def _starts(self) -> list[int]:
        return [0, *itertools.accumulate(v.frames for v in self.visuals)]

    def add_scene(self, visual: SceneVisual) -> None:
        self.visuals.append(visual)
        if self._wait_for_total:
            return
        last = len(self.visuals) - 1
        for piece in self._plan():
            if piece not in self._futures and not (piece.kind == "body" and piece.scenes[0] == last):
                self._submit(piece)

    def finish(self) -> tuple[list[Piece], list[Path]]:
        """Wait for every piece of the whole timeline; paths in timeline order."""
        first = self.visuals[0]
        self.canvas = Canvas(first.width, first.height, first.fps, sum(v.frames for v in self.visuals))
        pieces = self._plan()
        for piece in pieces:
            if piece not in self._futures:
                self._submit(piece)
        return pieces, [self._futures[p].result() for p in pieces]

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._side_pool.shutdown(wait=True, cancel_futures=True)

    def _submit(self, piece: Piece) -> None:
        at = piece_start(piece, self._starts())
        v = self.visuals[0]
        # before finish() the video's length is not known: then no overlay of this job needs it
        canvas = self.canvas or Canvas(v.width, v.height, v.fps)
        job = contextvars.copy_context().run   # in the job's context (scenes.job_scope)
        if piece.kind == "transition":
            self._futures[piece] = self._side_pool.submit(job, self._render, piece, at, canvas,
                                                          self._side_enc)
        else:
            self._futures[piece] = self._pool.submit(job, self._render, piece, at, canvas, self.enc,
                                                     self._feeding)

    def _render(self, piece: Piece, at: int, canvas: Canvas, enc: EncoderSettings,
                feeding=contextlib.nullcontext()) -> Path:
        ctx = self.ctx
        scene = piece.scenes[0] if piece.kind == "body" else piece.scenes[1]
        unit = f"{piece.kind}:{piece.scenes[0]}"   # the job's progress (protovideo.pipeline.progress)
        try:
            ctx.check_cancelled()
            key = piece_key(piece, self.visuals, self.enc, self._hashes, self.overlays, canvas, at)
            self.keys[piece] = key
            step = "render_scene" if piece.kind == "body" else "render_transition"

            @contextlib.contextmanager
            def timing():   # entered at this piece's turn, left at the end of its encoder
                with ctx.optimizer.monitor_performance(step, piece.scenes[0] if piece.kind == "body" else None), \
                        ctx.tracker.working(unit):
                    yield

            def produce(tmp: Path) -> None:
                render_piece(piece, self.visuals, enc, tmp, ctx.cancel, feeding, timing(),
                             self.overlays, canvas, at, on_frame=lambda: ctx.tracker.frames(unit))

            path = ctx.cache.get_or_create(key, ".mp4", produce)
            ctx.tracker.settle(unit)   # never begun: the cache had it
        except BaseException as exc:  # noqa: BLE001 - reported with the scene it belongs to
            raise SceneError(scene, exc) from exc
        return path
