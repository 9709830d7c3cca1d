"""OpenAI-compatible images (`image.provider: openai`): POST {OPENAI_BASE_URL}/images/generations.

One pooled requests.Session per provider; the key comes from OPENAI_API_KEY (Bearer).
HTTP 429, 5xx, timeouts and connection errors are retried with exponential backoff and
jitter (Retry-After honoured); after the last try they raise TransientError, so the job
is retried later. Other HTTP errors fail the job with the server's message. The picture
comes back as `b64_json` or as a `url` (downloaded through the same session, limited to
MAX_DOWNLOAD_MB) and is fitted (cover crop) to the requested size.
"""
from __future__ import annotations

import base64
import io
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

from jobmodel.backoff import Backoff
from jobmodel.errors import JobFailed, ProviderUnavailable, TransientError

from .images import ImageRequest

ATTEMPTS = 4
BACKOFF_BASE_S = 1.0      # jobmodel.backoff: ~0.5-1, ~1-2, ~2-4 s ... or the Retry-After
BACKOFF_MAX_S = 30.0
CONNECT_TIMEOUT_S = 10.0
READ_TIMEOUT_S = 180.0    # image generation is slow
PARALLEL_REQUESTS = 4

# sizes the OpenAI models accept; other (compatible) servers get the size asked for
_MODEL_SIZES = {
    "gpt-image": ((1024, 1024), (1024, 1536), (1536, 1024)),
    "dall-e-3": ((1024, 1024), (1024, 1792), (1792, 1024)),
    "dall-e-2": ((256, 256), (512, 512), (1024, 1024)),
}


def api_size(model: str, width: int, height: int) -> str:
    """The `size` to ask for: the accepted size closest in shape for OpenAI models."""
    for prefix, sizes in _MODEL_SIZES.items():
        if model.startswith(prefix):
            if prefix == "dall-e-2":
                best = min(sizes, key=lambda s: abs(s[0] - max(width, height)))
            else:
                best = min(sizes, key=lambda s: abs(s[0] / s[1] - width / height))
            return f"{best[0]}x{best[1]}"
    return f"{width}x{height}"


class OpenAIImageProvider:
    name = "openai"

    def __init__(self, settings, attempts: int = ATTEMPTS, backoff_base_s: float = BACKOFF_BASE_S):
        self.base_url = (settings.OPENAI_BASE_URL or "").rstrip("/")
        self.api_key = settings.OPENAI_API_KEY or ""
        self.default_model = settings.OPENAI_IMAGE_MODEL or "gpt-image-1"
        self.max_bytes = int(float(getattr(settings, "MAX_DOWNLOAD_MB", 200)) * 1024 * 1024)
        self.attempts = max(1, attempts)
        self.wait = Backoff(backoff_base_s, BACKOFF_MAX_S)
        self.session = requests.Session()
        self.session.trust_env = False
        adapter = HTTPAdapter(pool_connections=2, pool_maxsize=PARALLEL_REQUESTS * 2, max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.headers.update({"User-Agent": "ProtoVideo-worker/1"})

    def _check_configured(self) -> None:
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ProviderUnavailable(f"OPENAI_BASE_URL={self.base_url!r} is not an http(s) URL",
                                      field="OPENAI_BASE_URL")
        if not self.api_key and parts.hostname == "api.openai.com":
            raise ProviderUnavailable("image.provider 'openai' needs an API key: set OPENAI_API_KEY",
                                      field="OPENAI_API_KEY")

    def model_for(self, request: ImageRequest) -> str:
        return (request.model or "").strip() or self.default_model

    # -- provider interface ---------------------------------------------------
    def identity(self, request: ImageRequest) -> dict:
        self._check_configured()
        model = self.model_for(request)
        return {"provider": self.name, "base_url": self.base_url, "model": model,
                "prompt": request.prompt, "size": api_size(model, request.width, request.height),
                "width": request.width, "height": request.height, "seed": request.seed}

    def generate(self, requests_: list[ImageRequest]) -> list:
        self._check_configured()
        if len(requests_) <= 1:
            return [self._one(r) for r in requests_]
        with ThreadPoolExecutor(max_workers=min(PARALLEL_REQUESTS, len(requests_))) as pool:
            return list(pool.map(self._one, requests_))

    # -- one picture ----------------------------------------------------------
    def _one(self, request: ImageRequest):
        from PIL import Image, ImageOps

        model = self.model_for(request)
        body = {"model": model, "prompt": request.prompt, "n": 1,
                "size": api_size(model, request.width, request.height)}
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        answer = self._with_retries("the images API", lambda: self.session.post(
            f"{self.base_url}/images/generations", json=body, headers=headers,
            timeout=(CONNECT_TIMEOUT_S, READ_TIMEOUT_S)))
        try:
            item = answer.json()["data"][0]
        except (ValueError, KeyError, IndexError, TypeError):
            raise JobFailed(f"the images API at {self.base_url} answered without an image: "
                            f"{answer.text[:200]!r}", field="image.provider") from None
        if item.get("b64_json"):
            try:
                data = base64.b64decode(item["b64_json"], validate=True)
            except ValueError:
                raise JobFailed("the images API sent b64_json that is not base64",
                                field="image.provider") from None
        elif item.get("url"):
            data = self._download(item["url"])
        else:
            raise JobFailed("the images API answered with neither b64_json nor url", field="image.provider")
        try:
            image = Image.open(io.BytesIO(data))
            image.load()
        except (OSError, Image.DecompressionBombError) as exc:
            raise JobFailed(f"the images API sent something that is not a picture: {exc}",
                            field="image.provider") from None
        return ImageOps.fit(image.convert("RGB"), (request.width, request.height))

    def _download(self, url: str) -> bytes:
        if urlsplit(url).scheme not in ("http", "https"):
            raise JobFailed(f"the images API sent an image URL that is not http(s): {url[:100]!r}",
                            field="image.provider")

        def get():
            response = self.session.get(url, stream=True, timeout=(CONNECT_TIMEOUT_S, READ_TIMEOUT_S))
            if response.status_code == 200:
                response._content = self._read_limited(response)
            return response
        return self._with_retries("the image download", get).content

    def _read_limited(self, response: requests.Response) -> bytes:
        chunks, size = [], 0
        for block in response.iter_content(64 * 1024):
            size += len(block)
            if size > self.max_bytes:
                response.close()
                raise JobFailed(f"the generated image is larger than MAX_DOWNLOAD_MB "
                                f"({self.max_bytes / 1024 / 1024:g} MB)", field="image.provider")
            chunks.append(block)
        return b"".join(chunks)

    def _with_retries(self, what: str, call) -> requests.Response:
        problem = ""
        for attempt in range(1, self.attempts + 1):
            retry_after = None
            try:
                response = call()
            except (requests.ConnectionError, requests.Timeout) as exc:
                problem = f"{type(exc).__name__}: {exc}"
            else:
                status = response.status_code
                if status == 200:
                    return response
                message = _error_message(response)
                if status == 429 or status >= 500:
                    problem = f"HTTP {status} {message}"
                    retry_after = _retry_after(response.headers.get("Retry-After"))
                elif status in (401, 403):
                    raise JobFailed(f"{what} refused the key (HTTP {status} {message}); "
                                    "check OPENAI_API_KEY", field="OPENAI_API_KEY")
                else:
                    raise JobFailed(f"{what} refused the request: HTTP {status} {message}",
                                    field="image")
            if attempt < self.attempts:
                time.sleep(self.wait.delay(attempt, retry_after))
        raise TransientError(f"{what} at {self.base_url} failed {self.attempts} times; last: {problem}")


def _retry_after(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None


def _error_message(response: requests.Response) -> str:
    try:
        error = response.json().get("error")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])[:300]
    except (ValueError, AttributeError):
        pass
    return response.text[:200]


def create_provider(settings) -> OpenAIImageProvider:
    return OpenAIImageProvider(settings)
