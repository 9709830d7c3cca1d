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
from typing import Any

from jobmodel.errors import JobInvalid
from jobmodel.fields import Fields, one_of, string, type_name

PROVIDERS = ("pexels", "pixabay")
KINDS = ("photo", "video")
ORIENTATIONS = ("landscape", "portrait", "square")
MAX_QUERY_CHARS = 100      # Pixabay's limit for `q`
FIELDS = {"query": ("q", "search"), "provider": (), "kind": ("type",), "orientation": ()}
DEFAULT_FIELDS = {"provider": (), "kind": ("type",), "orientation": ()}


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
    if isinstance(value, str):
        value = {"query": value}
    f = Fields(value, path, FIELDS)
    query = f.get("query", string(MAX_QUERY_CHARS), "").strip()
    if not query:
        raise JobInvalid(f.where("query"), "a stock search needs a query (1 to "
                                           f"{MAX_QUERY_CHARS} characters)")
    return StockQuery(query=query,
                      provider=f.get("provider", one_of(*PROVIDERS), "pexels"),
                      kind=f.get("kind", one_of(*KINDS), "photo"),
                      orientation=f.get("orientation", one_of(*ORIENTATIONS), ""))


def _defaults(value: Any) -> tuple[dict, list[JobInvalid]]:
    if value is None:
        return {}, []
    if not isinstance(value, dict):
        return {}, [JobInvalid("stock", f"must be an object of defaults ({', '.join(DEFAULT_FIELDS)}), "
                                        f"got {type_name(value)}")]
    from jobmodel.problems import collecting
    with collecting() as found:
        f = Fields(value, "stock", DEFAULT_FIELDS)
        out = {"provider": f.get("provider", one_of(*PROVIDERS)),
               "kind": f.get("kind", one_of(*KINDS)),
               "orientation": f.get("orientation", one_of(*ORIENTATIONS))}
    return {k: v for k, v in out.items() if v is not None}, list(found)


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
        stock = {**defaults, **{k: v for k, v in given.items() if k != "type"}}
        own = given.get("kind", given.get("type"))
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
