"""Stock pictures and clips: a scene's `stock` query searched in Pexels or Pixabay.

    asset = find_stock(query, want, settings, cache)   # a StockAsset: the chosen photo or clip
    ref = asset_ref(asset, field)                       # an AssetRef for generators.fetch

One module per provider (pexels.py, pixabay.py) turns the API's documented search answer
into StockAssets; `choose` picks one: for photos the orientation and a size that covers
the frame, for clips also a duration at least the scene's (a clip too short is looped by
the video scene kind, but only when no long enough one was found). The search goes
through the network policy (generators.netpolicy; ALLOW_PRIVATE_URLS for a local
endpoint) with the key from PEXELS_API_KEY / PIXABAY_API_KEY, which never appears in a
message or a log. The chosen asset is cached by provider, endpoint, query and what was
wanted (the artifact cache: a job rendered again does not search again), and downloaded
like any asset URL (generators.fetch: the same policy, size limit and content checks,
cached by URL). Its author, page URL and licence go to the report and the manifest.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from jobmodel.errors import JobFailed
from jobmodel.refs import AssetRef
from jobmodel.stock import StockQuery

from . import pexels, pixabay
from .search import StockAsset, StockClient

PROVIDERS = {"pexels": pexels, "pixabay": pixabay}
VERSION = 1            # bump when `choose` picks differently (cached choices are not reused)


@dataclass(frozen=True)
class Want:
    """What the scene needs: the frame's size and, for clips, how long it lasts."""
    width: int
    height: int
    seconds: float = 0.0

    @property
    def orientation(self) -> str:
        if self.width == self.height:
            return "square"
        return "landscape" if self.width > self.height else "portrait"


def _aspect_fit(asset: StockAsset, orientation: str) -> int:
    shape = "square" if abs(asset.width - asset.height) <= 0.05 * max(asset.width, asset.height, 1) else \
        ("landscape" if asset.width > asset.height else "portrait")
    return 0 if shape == orientation else 1


def choose(found: list[StockAsset], want: Want, orientation: str) -> StockAsset | None:
    """The best match: the orientation asked for, then (clips) long enough, then covering the
    frame, then in the provider's own order (its relevance)."""
    if not found:
        return None

    def rank(item: tuple[int, StockAsset]) -> tuple:
        order, asset = item
        short = asset.kind == "video" and want.seconds > 0 and asset.duration + 1e-6 < want.seconds
        small = asset.width < want.width or asset.height < want.height
        return (_aspect_fit(asset, orientation), short, small, order)
    return min(enumerate(found), key=rank)[1]


def find_stock(query: StockQuery, want: Want, settings, cache=None, field: str = "stock") -> StockAsset:
    """The chosen asset for a scene's query (cached); JobFailed naming `field` when nothing fits."""
    module = PROVIDERS[query.provider]
    client = StockClient(module, settings, field)
    orientation = query.orientation or want.orientation
    identity = {"provider": query.provider, "endpoint": client.base_url, "query": query.query,
                "asset_kind": query.kind, "orientation": orientation, "width": want.width, "height": want.height,
                "seconds": round(want.seconds, 1), "version": VERSION}

    def search() -> StockAsset:
        found = module.search(client, query.query, query.kind, orientation, want)
        chosen = choose(found, want, orientation)
        if chosen is None:
            raise JobFailed(f"{field}: {query.provider} found no {query.kind} for {query.query!r:.100}",
                            field=field)
        return chosen

    if cache is None:
        return search()
    from cache import make_key
    key = make_key("stock", **identity)
    path = cache.get_or_create(key, ".json", lambda tmp: tmp.write_text(json.dumps(asdict(search()))))
    return StockAsset(**json.loads(path.read_text(encoding="utf-8")))


def asset_ref(asset: StockAsset, field: str) -> AssetRef:
    """The chosen file as an asset reference (downloaded and checked by generators.fetch)."""
    return AssetRef(asset.url, field, "video" if asset.kind == "video" else "image", url=asset.url)


def credit_ref(credit: dict) -> AssetRef:
    """The AssetRef of a credit (the same reference the render fetched)."""
    return AssetRef(credit["url"], credit["field"], "video" if credit["kind"] == "video" else "image",
                    url=credit["url"])


def credit(asset: StockAsset, field: str) -> dict[str, Any]:
    """What the report and the manifest say about a stock asset."""
    return {"field": field, "provider": asset.provider, "kind": asset.kind, "id": asset.id,
            "url": asset.url, "page_url": asset.page_url, "author": asset.author,
            "author_url": asset.author_url, "licence": asset.licence,
            "width": asset.width, "height": asset.height,
            **({"duration": asset.duration} if asset.kind == "video" else {})}


__all__ = ["PROVIDERS", "StockAsset", "Want", "asset_ref", "choose", "credit", "credit_ref", "find_stock"]
