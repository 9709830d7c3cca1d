"""What a web browser may do with the job API, in every mode (with or without API_TOKEN).

    served_hosts(settings)   the Host names answered (Starlette's TrustedHostMiddleware; others 400):
                             localhost, 127.0.0.1, [::1] (any port), API_PUBLIC_URL's host, and
                             API_HOST itself when it is one address (not 0.0.0.0 or ::)
    BrowserGuard             state-changing requests (POST, PUT, PATCH, DELETE):
                             - a body is application/json (multipart/form-data on POST /v1/assets);
                               another or a missing Content-Type: 415. A request without a body
                               (DELETE /v1/jobs/{id}, POST /v1/logout) needs none.
                             - a page of another origin is refused: 403 for an `Origin` that is not
                               this server's own (as the browser reached it), API_PUBLIC_URL's or in
                               API_ALLOWED_ORIGINS, and for `Sec-Fetch-Site: cross-site` or
                               `same-site` (e.g. another port of the same host) unless its Origin
                               is one of those trusted ones. Clients that send neither (curl,
                               scripts) are not browsers and pass.
    security_headers()       real HTTP headers on every answer (the `secure` package): the
                             dashboard's CSP with frame-ancestors 'none', X-Frame-Options: DENY,
                             X-Content-Type-Options: nosniff, Referrer-Policy: same-origin

A cross-origin page can only send "simple" requests without a preflight (form and text/plain
bodies), and this server answers no preflight: JSON-only bodies plus the Origin check leave a
hostile page no way to queue, cancel or upload, signed in or not.
"""
from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

import secure

from protovideo.service.api.asgi import has_body, header, send_json
from protovideo.service.api.limits import UPLOAD_PATHS

STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]")
DEFAULT_PORTS = {"http": 80, "https": 443}
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
       "media-src 'self' blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
       "form-action 'self'; frame-ancestors 'none'")


def _bracketed(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def served_hosts(settings) -> list[str]:
    """Host names (no port) this server answers: loopback, API_PUBLIC_URL's, a specific API_HOST."""
    hosts = list(LOOPBACK_HOSTS)
    if settings.API_PUBLIC_URL:
        hosts.append(_bracketed(urlsplit(settings.API_PUBLIC_URL).hostname or ""))
    bind = settings.API_HOST.strip().strip("[]").lower()
    try:
        if bind and not ipaddress.ip_address(bind).is_unspecified:
            hosts.append(_bracketed(bind))
    except ValueError:   # a name: answered under that name
        hosts.append(bind)
    return sorted({h for h in hosts if h and h != "[]"})


def _origin_key(scheme: str, netloc: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) with the scheme's default port filled in; None when unreadable."""
    try:
        parts = urlsplit(f"{scheme}://{netloc}")
        port = parts.port
    except ValueError:
        return None
    if scheme not in DEFAULT_PORTS or not parts.hostname:
        return None
    return scheme, parts.hostname.lower(), port or DEFAULT_PORTS[scheme]


def _parse_origin(text: str) -> tuple[str, str, int] | None:
    parts = urlsplit(text.strip())
    if parts.path or parts.query or parts.fragment:
        return None
    return _origin_key(parts.scheme.lower(), parts.netloc)


def trusted_origins(settings) -> frozenset[tuple[str, str, int]]:
    """API_PUBLIC_URL's origin and every API_ALLOWED_ORIGINS entry, as (scheme, host, port)."""
    found = [_parse_origin(o) for o in settings.API_ALLOWED_ORIGINS]
    if settings.API_PUBLIC_URL:
        public = urlsplit(settings.API_PUBLIC_URL)
        found.append(_origin_key(public.scheme.lower(), public.netloc))
    return frozenset(o for o in found if o)


def _own_origin(scope) -> tuple[str, str, int] | None:
    """This server's origin as the browser reached it (the Host header, already checked)."""
    host = header(scope, b"host")
    return _origin_key(scope.get("scheme", "http"), host) if host else None


def _media_type(scope) -> str | None:
    value = header(scope, b"content-type")
    return value.split(";", 1)[0].strip().lower() if value is not None else None


class BrowserGuard:
    """Pure ASGI middleware: 415 for a body that is not JSON, 403 for a page of another origin."""

    def __init__(self, app, settings):
        self.app = app
        self.trusted = trusted_origins(settings)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope.get("method") not in STATE_CHANGING:
            return await self.app(scope, receive, send)
        refusal = self.foreign(scope)
        if refusal:
            return await send_json(send, 403, refusal)
        refusal = self.wrong_type(scope)
        if refusal:
            return await send_json(send, 415, refusal)
        await self.app(scope, receive, send)

    def foreign(self, scope) -> str | None:
        """Why a request comes from another site's page, or None."""
        origin_text = header(scope, b"origin")
        site = (header(scope, b"sec-fetch-site") or "").strip().lower()
        origin = _parse_origin(origin_text) if origin_text is not None else None
        trusted = origin is not None and origin in self.trusted
        if origin_text is not None and not trusted and (origin is None or origin != _own_origin(scope)):
            return (f"requests from pages of {origin_text.strip()[:200]!r} are refused; this server takes "
                    "state-changing requests only from its own pages (API_ALLOWED_ORIGINS adds others)")
        if site in ("cross-site", "same-site") and not trusted:
            return (f"a {site} request is refused (Sec-Fetch-Site); this server takes state-changing "
                    "requests only from its own pages (API_ALLOWED_ORIGINS adds others)")
        return None

    @staticmethod
    def wrong_type(scope) -> str | None:
        media = _media_type(scope)
        if media is None and not has_body(scope):
            return None
        upload = scope.get("path", "").rstrip("/") in UPLOAD_PATHS and scope.get("method") == "POST"
        wanted = "multipart/form-data" if upload else "application/json"
        if media == wanted:
            return None
        return f"the request body must be {wanted} (Content-Type), got {(media or 'none')[:100]!r}"


def store_origin(settings) -> str:
    """The origin a browser fetches outputs on OUTPUT_STORE from (presigned URLs), or ''."""
    if settings is None or not getattr(settings, "OUTPUT_STORE", ""):
        return ""
    from storage.s3_client import endpoint_setting
    endpoint = endpoint_setting()
    if not endpoint:
        return "https://*.amazonaws.com"
    parts = urlsplit(endpoint)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme in ("http", "https") and parts.netloc else ""


def content_policy(settings=None) -> str:
    """CSP; with OUTPUT_STORE the dashboard's player and poster may load from the store (the job
    API answers them with a redirect to a presigned URL there)."""
    origin = store_origin(settings)
    if not origin:
        return CSP
    return CSP.replace("img-src 'self'", f"img-src 'self' {origin}").replace(
        "media-src 'self'", f"media-src 'self' {origin}")


def security_headers(settings=None) -> secure.Secure:
    """The headers every answer carries (applied by secure's ASGI middleware)."""
    return secure.Secure(
        csp=secure.ContentSecurityPolicy().set(content_policy(settings)),
        xfo=secure.XFrameOptions().deny(),
        xcto=secure.XContentTypeOptions().nosniff(),
        referrer=secure.ReferrerPolicy().same_origin())
