"""Pexels (https://www.pexels.com/api/documentation/): GET /v1/search (photos) and /videos/search
(clips), the key in the Authorization header."""
from __future__ import annotations

from typing import Any

from .search import StockAsset

NAME = "pexels"
KEY_SETTING, URL_SETTING = "PEXELS_API_KEY", "PEXELS_API_URL"
LICENCE = "Pexels License (free to use, no attribution required; https://www.pexels.com/license/)"
PER_PAGE = 15
PHOTO_SIZES = ("large2x", "large", "original")   # large2x is 940 px tall at twice the density


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _photo(item: dict, want) -> StockAsset | None:
    src = item.get("src") if isinstance(item.get("src"), dict) else {}
    width, height = _int(item.get("width")), _int(item.get("height"))
    big = max(want.width, want.height) > 1300
    url = src.get("original") if big else (src.get("large2x") or src.get("original"))
    if not isinstance(url, str) or not url:
        return None
    if url != src.get("original") and width and height:   # large2x: fitted into 1880x1300
        scale = min(1.0, 1880 / width, 1300 / height)
        width, height = int(width * scale), int(height * scale)
    return StockAsset(NAME, "photo", str(item.get("id", "")), url, width, height,
                      page_url=str(item.get("url") or ""), author=str(item.get("photographer") or ""),
                      author_url=str(item.get("photographer_url") or ""), licence=LICENCE)


def _clip(item: dict, want) -> StockAsset | None:
    files = [f for f in item.get("video_files") or [] if isinstance(f, dict) and
             str(f.get("file_type", "")).lower() == "video/mp4" and isinstance(f.get("link"), str)]
    if not files:
        return None
    covering = [f for f in files if _int(f.get("width")) >= want.width and _int(f.get("height")) >= want.height]
    pick = min(covering, key=lambda f: _int(f.get("width")) * _int(f.get("height"))) if covering else \
        max(files, key=lambda f: _int(f.get("width")) * _int(f.get("height")))
    user = item.get("user") if isinstance(item.get("user"), dict) else {}
    return StockAsset(NAME, "video", str(item.get("id", "")), pick["link"], _int(pick.get("width")),
                      _int(pick.get("height")), float(item.get("duration") or 0),
                      page_url=str(item.get("url") or ""), author=str(user.get("name") or ""),
                      author_url=str(user.get("url") or ""), licence=LICENCE)


def search(client, query: str, kind: str, orientation: str, want) -> list[StockAsset]:
    params = {"query": query, "orientation": orientation, "per_page": PER_PAGE}
    headers = {"Authorization": client.key}
    if kind == "video":
        data = client.get_json("/videos/search", params, headers)
        items, read = data.get("videos"), _clip
    else:
        data = client.get_json("/v1/search", params, headers)
        items, read = data.get("photos"), _photo
    found = [read(item, want) for item in items or [] if isinstance(item, dict)]
    return [a for a in found if a is not None]
