"""Stock pictures and clips in a job: a scene's `stock` query and the job's `stock` defaults.

    scene:  "stock": "ocean waves"                 a search query (the job's defaults for the rest)
            "stock": {"query", "provider", "kind", "orientation"}
    job:    "stock": {"provider", "kind", "orientation"}     defaults for every stock scene

`provider` is pexels (default) or pixabay; `kind` photo (an image scene's picture) or video
(a video scene's clip); `orientation` landscape, portrait or square (default: the frame's).
`apply_stock_defaults(data)` runs on the job's JSON before it is parsed: it fills each
scene's `stock` from the job's defaults, makes a stock scene without a `type` a video scene
when its kind is video, and takes the job-level `stock` out (the parser reads only the
scene's, through the `stock` param of the image and video scene kinds: `read_stock`).
The search itself (an API key, the network) happens when the job renders (generators/stock).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Optional

from pydantic import AliasChoices, Field

from jobmodel.catalogue import Param
from jobmodel.errors import JobInvalid
from jobmodel.fields import one_of, string
from jobmodel.problems import attempt, collecting
from jobmodel.schema_core import Check, Part, read_model

PROVIDERS = ("pexels", "pixabay")
KINDS = ("photo", "video")
ORIENTATIONS = ("landscape", "portrait", "square")
MAX_QUERY_CHARS = 100      # Pixabay's limit for `q`


def _f(*names: str, about: str) -> Any:
    alias = {"validation_alias": AliasChoices(*names)} if len(names) > 1 else {}
    return Field(None, description=about, **alias)


class StockDefaults(Part):
    """The job's defaults for its stock scenes (`stock` at the top of a job)."""
    provider: Annotated[Optional[str], Check(one_of(*PROVIDERS))] = _f(
        "provider", about="pexels (default) or pixabay; the key: PEXELS_API_KEY, PIXABAY_API_KEY")
    kind: Annotated[Optional[str], Check(one_of(*KINDS))] = _f(
        "kind", "type", about="photo (an image scene's picture) or video (a video scene's clip)")
    orientation: Annotated[Optional[str], Check(one_of(*ORIENTATIONS))] = _f(
        "orientation", about="the shape searched for; default: the frame's")


class StockSearch(StockDefaults):
    """A scene's stock search (`stock`: this object, or the query alone as a string)."""
    query: Annotated[Optional[str], Check(string(MAX_QUERY_CHARS))] = _f(
        "query", "q", "search", about="the search words")


@dataclass(frozen=True)
class StockQuery:
    query: str
    provider: str = "pexels"
    kind: str = "photo"
    orientation: str = ""          # "": the frame's (portrait for a reel)

    def to_dict(self) -> dict:
        return {"query": self.query, "provider": self.provider, "kind": self.kind,
                "orientation": self.orientation}


def read_stock(value: Any, path: str) -> StockQuery:
    """A scene's `stock` (a query, or an object): the param reader of the scene kinds."""
    m = read_model(StockSearch)({"query": value} if isinstance(value, str) else value, path)
    query = (m.query or "").strip()
    if not query and not m.refused("query") and not m.typo_for("query"):
        raise JobInvalid(m.at("query"), f"a stock search needs a query (1 to {MAX_QUERY_CHARS} characters)")
    return StockQuery(query=query, provider=m.provider or "pexels", kind=m.kind or "photo",
                      orientation=m.orientation or "")


def stock_param(shows: str, instead_of: str) -> Param:
    """The `stock` param a scene kind declares: `shows` a photo or a clip, `instead_of` its file field."""
    return Param(check=read_stock, about=f'a stock {shows} for this scene: a search query or {{"query", '
                                         f'"provider", "kind", "orientation"}} (used when `{instead_of}` is absent)')


read_stock.schema = lambda: {"oneOf": [
    {"type": "string", "minLength": 1, "maxLength": MAX_QUERY_CHARS, "description": "the search words"},
    StockSearch.model_json_schema()]}


def _defaults(value: Any) -> tuple[dict, list[JobInvalid]]:
    if value is None:
        return {}, []
    with collecting() as found:
        m = attempt(read_model(StockDefaults), value, "stock")
    if m is None:
        return {}, list(found)
    given = {"provider": m.provider, "kind": m.kind, "orientation": m.orientation}
    return {k: v for k, v in given.items() if v is not None}, list(found)


def apply_stock_defaults(data: Any) -> tuple[Any, list[JobInvalid]]:
    """(the job JSON with its stock defaults given to each stock scene, the problems of the
    defaults and of a kind that does not fit its scene's type). Malformed scenes pass as
    they are: the parser names their problems."""
    if not isinstance(data, dict) or ("stock" not in data and not _any_stock(data)):
        return data, []
    defaults, problems = _defaults(data.get("stock"))
    out = {k: v for k, v in data.items() if k != "stock"}
    scenes = out.get("scenes")
    if not isinstance(scenes, list):
        return out, problems
    filled = []
    for index, scene in enumerate(scenes):
        if not isinstance(scene, dict) or "stock" not in scene:
            filled.append(scene)
            continue
        given = scene["stock"]
        if isinstance(given, str):
            given = {"query": given}
        if not isinstance(given, dict):
            filled.append(scene)        # read_stock names it
            continue
        own = given.get("kind", given.get("type"))
        stock = {**defaults, **{k: v for k, v in given.items() if k not in ("type", "kind")}}
        scene = dict(scene)
        scene_type = scene.get("type")
        typed = scene_type.strip().lower() if isinstance(scene_type, str) else None
        if own is not None:
            kind = own
        elif typed in ("image", "video"):
            kind = "video" if typed == "video" else "photo"       # the scene's type wins over defaults
        else:
            kind = stock.get("kind", "photo")
        if scene_type is None and kind == "video":
            scene["type"], typed = "video", "video"
        if (typed or "image", kind) in (("image", "video"), ("video", "photo")):
            shows = "photo" if (typed or "image") == "image" else "video"
            problems.append(JobInvalid(f"scenes[{index}].stock.kind",
                                       f"a scene of type {typed or 'image'} shows a {shows}, not a "
                                       f"{kind}; set the scene's type to {'video' if kind == 'video' else 'image'}"))
        stock["kind"] = kind
        scene["stock"] = stock
        filled.append(scene)
    out["scenes"] = filled
    return out, problems


def _any_stock(data: dict) -> bool:
    scenes = data.get("scenes")
    return isinstance(scenes, list) and any(isinstance(s, dict) and "stock" in s for s in scenes)
