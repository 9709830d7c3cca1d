"""Who may use the job API: API_TOKEN as a bearer token, an `x-api-key` header, or a login cookie.

    Authorization: Bearer <API_TOKEN>     (scripts, curl)
    x-api-key: <API_TOKEN>                (the original ProtoVideo service's header)
    Cookie: protovideo_session=<derived>  (a browser after POST /v1/login; `<video src>` works)

The cookie holds an HMAC derived from the token, never the token itself; it is
HttpOnly and SameSite=Strict. Without API_TOKEN every request is let in, and
`check_bind` refuses to serve anything but a loopback address.
"""
from __future__ import annotations

import hashlib
import hmac
import ipaddress

from fastapi import HTTPException, Request

COOKIE = "protovideo_session"


class ServeRefused(ValueError):
    """The settings do not allow serving the job API (the message names them)."""


class BindRefused(ServeRefused):
    """API_HOST is not loopback and no API_TOKEN is set."""


def is_loopback(host: str) -> bool:
    name = host.strip().strip("[]").lower()
    if name in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def check_bind(settings) -> None:
    """Refuse to listen beyond this machine without a token, or in front of a source that keeps no jobs."""
    if settings.JOB_SOURCE == "http":
        raise ServeRefused("the job API serves the spool or Redis job source; with JOB_SOURCE=http this "
                           "worker takes its jobs from another job server (JOB_API_URL), which answers "
                           "for them itself")
    if not settings.API_TOKEN and not is_loopback(settings.API_HOST):
        raise BindRefused(
            f"API_HOST={settings.API_HOST} is reachable from other machines but API_TOKEN is empty; "
            "set API_TOKEN to a secret (clients send it as 'Authorization: Bearer ...' or "
            "'x-api-key: ...'), or keep API_HOST=127.0.0.1")


def session_value(token: str) -> str:
    """The login cookie's value for `token` (an HMAC, so the cookie never carries the token)."""
    return hmac.new(token.encode(), b"protovideo-session-v1", hashlib.sha256).hexdigest()


def token_ok(token: str, offered: str | None) -> bool:
    return bool(offered) and hmac.compare_digest(offered.encode(), token.encode())


def request_authorized(request: Request) -> bool:
    token = request.app.state.settings.API_TOKEN
    if not token:
        return True
    header = request.headers.get("authorization", "")
    if header[:7].lower() == "bearer " and token_ok(token, header[7:].strip()):
        return True
    if token_ok(token, request.headers.get("x-api-key")):
        return True
    cookie = request.cookies.get(COOKIE)
    return bool(cookie) and hmac.compare_digest(cookie.encode(), session_value(token).encode())


def require_token(request: Request) -> None:
    """FastAPI dependency for every route but the public ones."""
    if not request_authorized(request):
        raise HTTPException(status_code=401,
                            detail="missing or wrong API token: send 'Authorization: Bearer <API_TOKEN>' "
                                   "or 'x-api-key: <API_TOKEN>'",
                            headers={"WWW-Authenticate": "Bearer"})
