"""Pixabay (https://pixabay.com/api/docs/): GET / (photos) and /videos/ (clips), the key as `key=`."""
from __future__ import annotations

from typing import Any

from .search import StockAsset

NAME = "pixabay"
KEY_SETTING, URL_SETTING = "PIXABAY_API_KEY", "PIXABAY_API_URL"
LICENCE = "Pixabay Content License (free to use, no attribution required; https://pixabay.com/service/license-summary/)"
PER_PAGE = 20
ORIENTATIONS = {"landscape": "horizontal", "portrait": "vertical", "square": "all"}


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _author(item: dict) -> tuple[str, str]:
    user, user_id = str(item.get("user") or ""), item.get("user_id")
    return user, (f"https://pixabay.com/users/{user}-{user_id}/" if user and user_id else "")


def _photo(item: dict, want) -> StockAsset | None:
    width, height = _int(item.get("imageWidth")), _int(item.get("imageHeight"))
    large = item.get("largeImageURL")
    url = large if isinstance(large, str) and large else item.get("webformatURL")
    if not isinstance(url, str) or not url:
        return None
    if width and height:                       # largeImageURL: at most 1280 px on its long side
        scale = min(1.0, 1280 / max(width, height))
        width, height = int(width * scale), int(height * scale)
    author, author_url = _author(item)
    return StockAsset(NAME, "photo", str(item.get("id", "")), url, width, height,
                      page_url=str(item.get("pageURL") or ""), author=author, author_url=author_url,
                      licence=LICENCE)


def _clip(item: dict, want) -> StockAsset | None:
    versions = item.get("videos") if isinstance(item.get("videos"), dict) else {}
    files = [v for v in versions.values() if isinstance(v, dict) and isinstance(v.get("url"), str) and v["url"]]
    if not files:
        return None
    covering = [f for f in files if _int(f.get("width")) >= want.width and _int(f.get("height")) >= want.height]
    pick = min(covering, key=lambda f: _int(f.get("width")) * _int(f.get("height"))) if covering else \
        max(files, key=lambda f: _int(f.get("width")) * _int(f.get("height")))
    author, author_url = _author(item)
    return StockAsset(NAME, "video", str(item.get("id", "")), pick["url"], _int(pick.get("width")),
                      _int(pick.get("height")), float(item.get("duration") or 0),
                      page_url=str(item.get("pageURL") or ""), author=author, author_url=author_url,
                      licence=LICENCE)


def search(client, query: str, kind: str, orientation: str, want) -> list[StockAsset]:
    params = {"key": client.key, "q": query, "orientation": ORIENTATIONS.get(orientation, "all"),
              "per_page": PER_PAGE, "safesearch": "true"}
    if kind == "video":
        data = client.get_json("/videos/", {**params, "video_type": "film"})
        read = _clip
    else:
        data = client.get_json("/", {**params, "image_type": "photo"})
        read = _photo
    found = [read(item, want) for item in data.get("hits") or [] if isinstance(item, dict)]
    return [a for a in found if a is not None]
