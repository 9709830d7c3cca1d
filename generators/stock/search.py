"""The HTTP side of a stock search: one GET of a provider's search endpoint, with its key.

The endpoint's host passes the network policy (generators.netpolicy) and the connection goes
through its guarded session; HTTP 429, 5xx, timeouts and refused connections are tried again
with backoff (jobmodel.backoff), then a TransientError; 401/403 name the key's setting. The key
is sent as the provider wants (a header, or a query parameter) and is scrubbed from every
message: errors name the endpoint's scheme and host only.
"""
from __future__ import annotations

import socket
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests

from jobmodel.backoff import Backoff
from jobmodel.errors import JobFailed, ProviderUnavailable, TransientError

from ..netpolicy import RefusedAddress, http_session, resolve_checked

ATTEMPTS = 3
TIMEOUT_S = (10.0, 30.0)
MAX_ANSWER_BYTES = 5 * 1024 * 1024


@dataclass(frozen=True)
class StockAsset:
    provider: str
    kind: str              # photo | video
    id: str
    url: str               # the file to download
    width: int
    height: int
    duration: float = 0.0  # clips, seconds
    page_url: str = ""
    author: str = ""
    author_url: str = ""
    licence: str = ""


class StockClient:
    """GETs of one provider's API (module: its NAME, KEY_SETTING, URL_SETTING)."""

    def __init__(self, module, settings, field: str, backoff_base_s: float = 0.5):
        self.name = module.NAME
        self.key_setting, self.url_setting = module.KEY_SETTING, module.URL_SETTING
        self.key = (getattr(settings, self.key_setting, "") or "").strip()
        self.base_url = (getattr(settings, self.url_setting, "") or "").rstrip("/")
        self.allow_private = bool(getattr(settings, "ALLOW_PRIVATE_URLS", False))
        self.field = field
        self.wait = Backoff(backoff_base_s, 10.0)

    def where(self) -> str:
        parts = urlsplit(self.base_url)
        return f"{parts.scheme}://{parts.netloc}"

    def _fail(self, message: str, cls=JobFailed, field: str | None = None) -> JobFailed:
        text = message.replace(self.key, "***") if len(self.key) >= 4 else message
        return cls(f"{self.field}: {text}", field=field or self.field)

    def check(self) -> None:
        if not self.key:
            raise ProviderUnavailable(f"{self.field}: stock provider {self.name} needs an API key: set "
                                      f"{self.key_setting}", field=self.key_setting)
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ProviderUnavailable(f"{self.url_setting}={self.base_url!r:.100} is not an http(s) URL",
                                      field=self.url_setting)
        try:
            resolve_checked(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80),
                            self.allow_private)
        except RefusedAddress as exc:
            raise self._fail(f"{self.url_setting} refused: {exc}", field=self.url_setting) from None
        except socket.gaierror as exc:
            raise self._fail(f"cannot reach {self.where()}: {exc.strerror or exc}", TransientError) from None

    def get_json(self, path: str, params: dict, headers: dict | None = None) -> dict:
        self.check()
        url = self.base_url + path
        session = http_session(self.allow_private)
        problem = ""
        for attempt in range(1, ATTEMPTS + 1):
            retry_after = None
            try:
                response = session.get(url, params=params, headers=headers or {}, timeout=TIMEOUT_S,
                                       allow_redirects=False, stream=True)
            except (requests.ConnectionError, requests.Timeout) as exc:
                problem = type(exc).__name__
            except RefusedAddress as exc:
                raise self._fail(f"refused: {exc}") from None
            else:
                with response:
                    status = response.status_code
                    if status == 200:
                        return self._decode(response)
                    if status in (401, 403):
                        raise self._fail(f"{self.name} refused the key (HTTP {status}); check {self.key_setting}",
                                         field=self.key_setting)
                    if status != 429 and status < 500:
                        raise self._fail(f"{self.name} refused the search at {self.where()}: HTTP {status}")
                    problem = f"HTTP {status}"
                    value = response.headers.get("Retry-After", "")
                    retry_after = float(value) if value.strip().isdigit() else None
            if attempt < ATTEMPTS:
                time.sleep(self.wait.delay(attempt, retry_after))
        raise self._fail(f"the {self.name} search at {self.where()} failed {ATTEMPTS} times; last: {problem}",
                         TransientError)

    def _decode(self, response: requests.Response) -> dict:
        body, size = [], 0
        for block in response.iter_content(64 * 1024):
            size += len(block)
            if size > MAX_ANSWER_BYTES:
                raise self._fail(f"the {self.name} answer is larger than {MAX_ANSWER_BYTES} bytes")
            body.append(block)
        import json
        try:
            data = json.loads(b"".join(body))
        except ValueError:
            raise self._fail(f"the {self.name} answer is not JSON") from None
        if not isinstance(data, dict):
            raise self._fail(f"the {self.name} answer is not a JSON object")
        return data
