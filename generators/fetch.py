"""Asset fetching, in one place: every picture, clip and sound a job names.

    path = fetch_asset(ref, settings, cache=None)

- local paths: re-checked at fetch time (symlinks resolved) to lie inside the
  job's folder or ASSET_ROOT, then checked by their bytes;
- URLs: http/https only; every address the host resolves to must pass the
  network policy (generators.netpolicy: public addresses only unless
  ALLOW_PRIVATE_URLS), and the connection goes through its guarded session.
  Redirects are followed by hand (at most MAX_REDIRECTS), each hop checked
  again. Connect/read timeouts and an overall deadline; MAX_DOWNLOAD_MB is
  enforced while streaming (the partial file is deleted). Connection errors,
  timeouts, HTTP 429 and 5xx are retried with exponential backoff and jitter,
  then raised as TransientError; anything else is a JobFailed naming the asset
  and its field.
- what arrives is checked by its bytes (generators.media_check.check_asset).
"""
from __future__ import annotations

import os
import re
import socket
import tempfile
import time
from pathlib import Path, PurePosixPath
from urllib.parse import urljoin, urlsplit

import requests

from jobmodel.backoff import Backoff
from jobmodel.errors import JobFailed, TransientError
from jobmodel.refs import inside

from .media_check import check_asset, scene_of
from .netpolicy import RefusedAddress, http_session, resolve_checked

CONNECT_TIMEOUT_S = 10.0
READ_TIMEOUT_S = 30.0
TOTAL_TIMEOUT_S = 600.0     # one download, all of it
MAX_REDIRECTS = 5
ATTEMPTS = 3                # tries for transient failures
BACKOFF_BASE_S = 1.0        # jobmodel.backoff: ~0.5-1 s, ~1-2 s, ... or the Retry-After
BACKOFF_MAX_S = 30.0
CHUNK = 64 * 1024
SUFFIXES = {
    "image": (".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp", ".tif", ".tiff"),
    "audio": (".mp3", ".wav", ".ogg", ".oga", ".opus", ".flac", ".m4a", ".aac", ".mka", ".webm"),
    "video": (".mp4", ".mov", ".m4v", ".webm", ".mkv", ".avi", ".ts", ".gif"),
}
DEFAULT_SUFFIX = {"image": ".img", "audio": ".audio", "video": ".video"}


# ---------------------------------------------------------------- fetch
def fetch_asset(ref, settings, cache=None) -> Path:
    """A checked local file for an AssetRef (see the module docstring)."""
    if ref.is_url:
        path = _download(ref, settings, cache)
    else:
        path = _local(ref, settings)
    check_asset(path, ref.kind, ref.field, asset=ref.value)
    return path


def _failed(ref, message: str, cls=JobFailed) -> JobFailed:
    return cls(f"{ref.field}: {message} (asset {ref.value!r:.200})", scene=scene_of(ref.field),
               asset=ref.value, field=ref.field)


def _local(ref, settings) -> Path:
    if ref.path is None:
        raise _failed(ref, "the asset has neither a URL nor a path")
    roots = [Path(os.path.realpath(root)) for root in ref.roots]
    asset_root = getattr(settings, "ASSET_ROOT", "") if settings is not None else ""
    if asset_root:
        roots.append(Path(os.path.realpath(settings.path("ASSET_ROOT"))))
    real = Path(os.path.realpath(ref.path))
    if not roots or not inside(real, roots):
        raise _failed(ref, "the file now lies outside the job's folder and ASSET_ROOT "
                      "(symbolic link?); refused")
    if not real.is_file():
        raise _failed(ref, "the file is missing or not a regular file")
    return real


def _suffix(url: str, kind: str) -> str:
    suffix = PurePosixPath(urlsplit(url).path).suffix.lower()
    return suffix if suffix in SUFFIXES.get(kind, ()) else DEFAULT_SUFFIX.get(kind, ".bin")


def _download(ref, settings, cache) -> Path:
    suffix = _suffix(ref.url, ref.kind)

    def produce(tmp: Path) -> None:
        _download_with_retries(ref, settings, tmp)
        check_asset(tmp, ref.kind, ref.field, asset=ref.value)

    if cache is not None:
        from cache import make_key
        return cache.get_or_create(make_key("download", url=ref.url), suffix, produce)
    folder = settings.path("WORK_DIR") / "downloads"
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=suffix, dir=folder, prefix="dl-")
    os.close(fd)
    try:
        produce(Path(tmp))
    except BaseException:
        _unlink(Path(tmp))
        raise
    return Path(tmp)


def _download_with_retries(ref, settings, dest: Path) -> None:
    for attempt in range(1, ATTEMPTS + 1):
        try:
            _download_once(ref, settings, dest)
            return
        except TransientError as exc:
            _unlink_contents(dest)
            if attempt == ATTEMPTS:
                raise
            wait = Backoff(BACKOFF_BASE_S, BACKOFF_MAX_S)
            time.sleep(wait.delay(attempt, getattr(exc, "retry_after", None)))


def check_url(ref, url: str, allow_private: bool) -> None:
    """Refuse a URL (the first or a redirect target) before any connection."""
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https"):
        raise _failed(ref, f"URL scheme '{parts.scheme}:' is not allowed; only http and https")
    try:
        port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
    except ValueError:
        raise _failed(ref, "the URL has an invalid port") from None
    if not parts.hostname:
        raise _failed(ref, "the URL has no host")
    if parts.username or parts.password:
        raise _failed(ref, "URLs with user names or passwords are not allowed")
    try:
        resolve_checked(parts.hostname, port, allow_private)
    except RefusedAddress as exc:
        raise _failed(ref, f"refused: {exc}") from None
    except socket.gaierror as exc:
        transient = exc.errno in (socket.EAI_AGAIN, getattr(socket, "EAI_SYSTEM", None))
        raise _failed(ref, f"{exc.strerror or exc}", TransientError if transient else JobFailed) from None


def _download_once(ref, settings, dest: Path) -> None:
    allow_private = bool(settings.ALLOW_PRIVATE_URLS)
    limit = int(float(settings.MAX_DOWNLOAD_MB) * 1024 * 1024)
    session = http_session(allow_private)
    url = ref.url
    deadline = time.monotonic() + TOTAL_TIMEOUT_S
    for _hop in range(MAX_REDIRECTS + 1):
        check_url(ref, url, allow_private)
        try:
            response = session.get(url, stream=True, allow_redirects=False,
                                   timeout=(CONNECT_TIMEOUT_S, READ_TIMEOUT_S))
        except RefusedAddress as exc:
            raise _failed(ref, f"refused: {exc}") from None
        except (requests.Timeout, requests.ConnectionError) as exc:
            raise _failed(ref, f"cannot download: {_short(exc)}", TransientError) from None
        except requests.RequestException as exc:
            raise _failed(ref, f"cannot download: {_short(exc)}") from None
        with response:
            if response.is_redirect:
                location = response.headers.get("Location", "")
                if not location:
                    raise _failed(ref, f"HTTP {response.status_code} redirect without a Location")
                url = urljoin(url, location)
                continue
            _check_status(ref, response)
            _stream_to(ref, response, dest, limit, deadline)
            return
    raise _failed(ref, f"more than {MAX_REDIRECTS} redirects")


def _check_status(ref, response: requests.Response) -> None:
    status = response.status_code
    if status == 429 or 500 <= status < 600:
        error = _failed(ref, f"the server answered HTTP {status} {response.reason or ''}".rstrip(),
                        TransientError)
        error.retry_after = _retry_after(response.headers.get("Retry-After"))
        raise error
    if status != 200:
        raise _failed(ref, f"the server answered HTTP {status} {response.reason or ''}".rstrip())


def _retry_after(value: str | None) -> float | None:
    if value and re.fullmatch(r"\s*\d{1,6}\s*", value):
        return float(value)
    return None


def _stream_to(ref, response: requests.Response, dest: Path, limit: int, deadline: float) -> None:
    limit_mb = f"{limit / 1024 / 1024:g} MB"
    declared = response.headers.get("Content-Length", "")
    if declared.strip().isdigit() and int(declared) > limit:
        raise _failed(ref, f"the download is {int(declared)} bytes; MAX_DOWNLOAD_MB is {limit_mb}")
    received = 0
    try:
        with open(dest, "wb") as out:
            for block in response.iter_content(CHUNK):
                received += len(block)
                if received > limit:
                    raise _failed(ref, f"the download is larger than MAX_DOWNLOAD_MB ({limit_mb}); stopped")
                if time.monotonic() > deadline:
                    raise _failed(ref, f"the download took longer than {TOTAL_TIMEOUT_S:g} s",
                                  TransientError)
                out.write(block)
    except JobFailed:
        _unlink_contents(dest)
        raise
    except (requests.Timeout, requests.ConnectionError, requests.exceptions.ChunkedEncodingError,
            OSError) as exc:  # dropped connection, short body: may pass
        _unlink_contents(dest)
        raise _failed(ref, f"the download broke off: {_short(exc)}", TransientError) from None
    except requests.RequestException as exc:
        _unlink_contents(dest)
        raise _failed(ref, f"the download broke off: {_short(exc)}") from None
    if received == 0:
        raise _failed(ref, "the server sent an empty file")


def _unlink_contents(path: Path) -> None:
    """Empty a partial download (the file itself belongs to the cache or the caller)."""
    try:
        with open(path, "wb"):
            pass
    except OSError:
        pass


def _unlink(path: Path) -> None:
    try:
        path.unlink()
    except OSError:
        pass


def _short(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 300 else text[:300] + "..."
