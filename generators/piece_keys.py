"""Cache keys of pieces: everything a piece's pixels depend on, files by their content.

A piece's key holds the renderer version, the piece's place in its scenes, the encoder,
and for each scene its SceneVisual with every file in it (picture, clip, any plug-in's
asset, wherever it sits) replaced by the MD5 of its bytes, never its path: a changed file
at the same path makes a new key. Each plug-in stands in the key as name@version: the
scene kind, its motion and caption style, the transition, the job's overlays. An overlay
that needs the whole video (`whole_video`: a progress bar) adds the piece's first frame
in the video and the video's length; no other piece depends on where it sits, so a
scene that grows does not make its neighbours' pieces again.
"""
from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from cache import make_key
from cache.keys import file_md5

from .compose import RENDERER_VERSION, Piece
from .encode import EncoderSettings
from .motions import MOTIONS
from .overlays import CAPTION_STYLES, needs_whole_video, overlay_plugin
from .scenes import kind_of
from .transitions import transition_plugin
from .visual import Canvas, OverlayUse, SceneVisual


class FileHashes:
    """MD5 of each file's content, read once per job (shared by the pieces' threads)."""

    def __init__(self):
        self._md5s: dict[Path, str] = {}
        self._lock = threading.Lock()

    def __call__(self, path: Path) -> str:
        with self._lock:
            known = self._md5s.get(path)
        if known is None:
            known = file_md5(path)
            with self._lock:
                self._md5s[path] = known
        return known


def by_content(value: Any, hashes: FileHashes) -> Any:
    """`value` with every Path in it (in lists, tuples, dicts) replaced by {"md5": its content's hash}."""
    if isinstance(value, Path):
        return {"md5": hashes(value)}
    if isinstance(value, (list, tuple)):
        return [by_content(v, hashes) for v in value]
    if isinstance(value, dict):
        return {k: by_content(v, hashes) for k, v in value.items()}
    return value


def visual_identity(visual: SceneVisual, hashes: FileHashes) -> dict:
    ident = by_content(asdict(visual), hashes)
    ident.pop("index", None)
    ident["kind"] = kind_of(visual.kind).identity()
    if visual.motion in MOTIONS:
        ident["motion"] = MOTIONS[visual.motion].identity()
    style = visual.subtitle_style
    if style is not None and style.style in CAPTION_STYLES:
        ident["caption_style"] = CAPTION_STYLES[style.style].identity()
    return ident


def overlay_identity(use: OverlayUse, hashes: FileHashes) -> dict:
    return {"type": overlay_plugin(use.type).identity(), "params": by_content(list(use.params), hashes)}


def piece_key(piece: Piece, visuals: list[SceneVisual], enc: EncoderSettings, hashes: FileHashes,
              overlays: Sequence[OverlayUse] = (), canvas: Canvas | None = None, at: int = 0) -> str:
    parts: dict[str, Any] = dict(
        renderer=RENDERER_VERSION, piece_kind=piece.kind, first=piece.first, last=piece.last,
        scenes=[visual_identity(visuals[i], hashes) for i in piece.scenes], encoder=enc.identity())
    if piece.kind == "transition":
        parts["transition"] = transition_plugin(piece.transition).identity()
    if overlays:
        parts["overlays"] = [overlay_identity(u, hashes) for u in overlays]
        if needs_whole_video(overlays):
            parts["in_video"] = {"at": at, "total": canvas.total if canvas else 0}
    return make_key("piece", **parts)
