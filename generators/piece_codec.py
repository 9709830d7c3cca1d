"""A piece as a message: what one worker needs to render a piece another worker planned.

The coordinator of a split job (protovideo/pipeline/split.py) sends each piece as plain JSON:
the piece, the SceneVisuals of its scenes, the job's overlays, the canvas, the piece's first
frame in the video and the encoder. Files cannot travel as paths (the worker may be another
machine): `encode(..., file_key)` writes each `Path` as {"$file": <cache key>, "ext": ...}
(the coordinator has put the file in the shared cache under that key) and `decode(data,
open_file)` puts the worker's local copy of it back. Tuples, dataclasses and paths are
tagged so the worker gets exactly the objects the coordinator had, and so the piece's cache
key (generators/piece_keys.py) comes out the same on both: the worker checks that it does.

A scene's narration travels the same way (`encode_narration`): its text, voice, scene and the
reference voice file, so narration too can be made by any worker into the shared cache.

Only the dataclasses named in TYPES are made from a message; anything else is refused.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from jobmodel.spec import VoiceSpec

from .compose import Piece
from .encode import EncoderSettings
from .subtitles import Cue
from .visual import Canvas, OverlayUse, SceneVisual, TextSpec
from .word_timing import Word

TYPES: dict[str, type] = {cls.__name__: cls for cls in
                          (Piece, SceneVisual, TextSpec, Cue, Word, OverlayUse, Canvas, EncoderSettings,
                           VoiceSpec)}
FORMAT = 1   # bump when the message's shape changes


class PieceMessageError(ValueError):
    """A piece message that cannot be read (a worker of another version, or damage)."""


@dataclasses.dataclass(frozen=True)
class PieceWork:
    """Everything render_piece needs for one piece."""
    piece: Piece
    visuals: dict[int, SceneVisual]    # the piece's scenes by index
    overlays: tuple[OverlayUse, ...]
    canvas: Canvas
    at: int                            # the piece's first frame in the whole video
    enc: EncoderSettings               # the job's encoder (the piece's key is made with it)
    threads: int                       # the encoder threads this piece is made with

    def visual_list(self) -> list[SceneVisual | None]:
        """The visuals as the renderer indexes them (scene i at place i; others None)."""
        out: list[SceneVisual | None] = [None] * (max(self.visuals) + 1)
        for i, v in self.visuals.items():
            out[i] = v
        return out


def piece_name(piece: Piece) -> str:
    """How a piece is named in messages, errors and the report: body:3, transition:3-4."""
    return f"{piece.kind}:{'-'.join(str(i) for i in piece.scenes)}"


def _out(value: Any, file_key: Callable[[Path], str]) -> Any:
    if isinstance(value, Path):
        return {"$file": file_key(value), "ext": value.suffix}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        name = type(value).__name__
        if TYPES.get(name) is not type(value):
            raise TypeError(f"a piece message cannot carry a {type(value).__qualname__}")
        return {"$dc": name, "f": {f.name: _out(getattr(value, f.name), file_key)
                                   for f in dataclasses.fields(value)}}
    if isinstance(value, tuple):
        return {"$t": [_out(v, file_key) for v in value]}
    if isinstance(value, list):
        return [_out(v, file_key) for v in value]
    if isinstance(value, dict):
        if any(not isinstance(k, str) or k.startswith("$") for k in value):
            raise TypeError("a piece message carries dicts with plain text keys only")
        return {k: _out(v, file_key) for k, v in value.items()}
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise TypeError(f"a piece message cannot carry a {type(value).__qualname__}")


def _in(value: Any, open_file: Callable[[str, str], Path]) -> Any:
    if isinstance(value, list):
        return [_in(v, open_file) for v in value]
    if not isinstance(value, dict):
        return value
    if "$file" in value:
        return open_file(str(value["$file"]), str(value.get("ext", "")))
    if "$t" in value:
        return tuple(_in(v, open_file) for v in value["$t"])
    if "$dc" in value:
        cls = TYPES.get(value["$dc"])
        if cls is None:
            raise PieceMessageError(f"unknown type {value['$dc']!r} in a piece message")
        return cls(**{k: _in(v, open_file) for k, v in value["f"].items()})
    return {k: _in(v, open_file) for k, v in value.items()}


def encode(piece: Piece, visuals: Sequence[SceneVisual], overlays: Sequence[OverlayUse], canvas: Canvas,
           at: int, enc: EncoderSettings, threads: int, file_key: Callable[[Path], str]) -> dict:
    """The piece's message (JSON-able); `file_key(path)`: the cache key the file was shared under."""
    return {"format": FORMAT, "piece": _out(piece, file_key),
            "visuals": {str(i): _out(visuals[i], file_key) for i in piece.scenes},
            "overlays": _out(tuple(overlays), file_key), "canvas": _out(canvas, file_key), "at": at,
            "enc": _out(enc, file_key), "threads": threads}


def decode(data: dict, open_file: Callable[[str, str], Path]) -> PieceWork:
    """The piece a message describes; `open_file(key, ext)`: a local copy of a shared file."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise PieceMessageError(f"a piece message of format {data.get('format') if isinstance(data, dict) else '?'}"
                                f" (this worker reads {FORMAT})")
    try:
        return PieceWork(piece=_in(data["piece"], open_file),
                         visuals={int(i): _in(v, open_file) for i, v in data["visuals"].items()},
                         overlays=tuple(_in(data["overlays"], open_file)), canvas=_in(data["canvas"], open_file),
                         at=int(data["at"]), enc=_in(data["enc"], open_file), threads=int(data["threads"]))
    except (KeyError, TypeError, AttributeError) as exc:
        raise PieceMessageError(f"a piece message that cannot be read: {type(exc).__name__}: {exc}") from exc


@dataclasses.dataclass(frozen=True)
class NarrationWork:
    """One scene's narration to synthesize (into the cache, where the coordinator finds it)."""
    text: str
    voice: VoiceSpec
    scene: int
    reference: Path | None = None


def encode_narration(text: str, voice: VoiceSpec, scene: int, reference: Path | None,
                     file_key: Callable[[Path], str]) -> dict:
    return {"format": FORMAT, "kind": "narration", "text": text, "voice": _out(voice, file_key), "scene": scene,
            "reference": _out(reference, file_key)}


def decode_narration(data: dict, open_file: Callable[[str, str], Path]) -> NarrationWork:
    if not isinstance(data, dict) or data.get("format") != FORMAT or data.get("kind") != "narration":
        raise PieceMessageError("not a narration message of this worker's format")
    try:
        return NarrationWork(str(data["text"]), _in(data["voice"], open_file), int(data["scene"]),
                             _in(data.get("reference"), open_file))
    except (KeyError, TypeError, AttributeError) as exc:
        raise PieceMessageError(f"a narration message that cannot be read: {type(exc).__name__}: {exc}") from exc
