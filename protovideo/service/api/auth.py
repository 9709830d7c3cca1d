"""Who may use the job API: API_TOKEN as a bearer token, an `x-api-key` header, or a session cookie.

    Authorization: Bearer <API_TOKEN>       (scripts, curl)
    x-api-key: <API_TOKEN>                  (the original ProtoVideo service's header)
    Cookie: protovideo_session=<session id> (a browser after POST /v1/login; `<video src>` works)

The cookie holds a random server-side session id (sessions.py), never the token; it is
HttpOnly and SameSite=Strict. TokenGate checks all of it before routing, so a protected
request without credentials is answered 401 before its body is read. Without API_TOKEN
every request is let in, and `check_bind` refuses to serve anything but a loopback address.
"""
from __future__ import annotations

import hmac
import ipaddress

import anyio
from starlette.requests import cookie_parser

from protovideo.service.api.asgi import header, send_json

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


def token_ok(token: str, offered: str | None) -> bool:
    return bool(offered) and hmac.compare_digest(offered.encode("utf-8", "surrogatepass"), token.encode())


def session_cookie(scope) -> str | None:
    """The session id the request's Cookie header carries, if any."""
    raw = header(scope, b"cookie")
    if not raw:
        return None
    return cookie_parser(raw).get(COOKIE) or None


class TokenGate:
    """Pure ASGI middleware in front of routing: 401 before a protected request's body is read.

    `public` paths (the greeting, dashboard, /health, /docs, login, logout; `public_prefixes`
    for /static) pass; every other request needs the token or a live session. Without
    API_TOKEN everything passes (the server listens on loopback only, check_bind)."""

    def __init__(self, app, settings, sessions, public: frozenset[str], public_prefixes: tuple[str, ...]):
        self.app, self.token, self.sessions = app, settings.API_TOKEN, sessions
        self.public, self.public_prefixes = public, public_prefixes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not self.token or self._is_public(scope.get("path", "")) \
                or await self.authorized(scope):
            return await self.app(scope, receive, send)
        await send_json(send, 401, "missing or wrong API token: send 'Authorization: Bearer <API_TOKEN>' "
                                   "or 'x-api-key: <API_TOKEN>', or sign in (POST /v1/login)",
                        headers=((b"www-authenticate", b"Bearer"),))

    def _is_public(self, path: str) -> bool:
        return path in self.public or path.startswith(self.public_prefixes)

    async def authorized(self, scope) -> bool:
        bearer = header(scope, b"authorization") or ""
        if bearer[:7].lower() == "bearer " and token_ok(self.token, bearer[7:].strip()):
            return True
        if token_ok(self.token, header(scope, b"x-api-key")):
            return True
        session_id = session_cookie(scope)
        if not session_id:
            return False
        if self.sessions.blocking:
            return await anyio.to_thread.run_sync(self.sessions.valid, session_id)
        return self.sessions.valid(session_id)
