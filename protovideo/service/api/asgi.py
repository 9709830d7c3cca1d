"""Small pieces shared by the API's pure ASGI middleware (they answer before the app reads a body)."""
from __future__ import annotations

import json


def header(scope, name: bytes) -> str | None:
    """A request header's value (latin-1, as ASGI carries it), None when absent."""
    for key, value in scope.get("headers") or ():
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def has_body(scope) -> bool:
    """True when the request declares a body: a Content-Length above 0 or a Transfer-Encoding."""
    length = header(scope, b"content-length")
    return header(scope, b"transfer-encoding") is not None or (length is not None and length.strip() != "0")


async def send_json(send, status: int, detail: str, headers: tuple[tuple[bytes, bytes], ...] = ()) -> None:
    """Answer {"detail": detail} with `status`, without reading the request's body."""
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()), *headers]})
    await send({"type": "http.response.body", "body": body})
