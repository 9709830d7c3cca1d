"""Request bodies are bounded: an ASGI middleware answers 413 before a large body is read.

A job is at most LIMITS.max_job_json_bytes; an upload (POST /v1/assets) at most
MAX_DOWNLOAD_MB, the same bound as an asset download. The Content-Length header is
checked first; a body sent without one (chunked) is counted as it arrives.
"""
from __future__ import annotations

from jobmodel.limits import LIMITS
from protovideo.service.api.asgi import header, send_json

UPLOAD_PATHS = ("/v1/assets",)
MULTIPART_SLACK = 1 << 20   # form boundaries and headers around the file


def body_limit(path: str, settings) -> int:
    if path.rstrip("/") in UPLOAD_PATHS:
        return int(settings.MAX_DOWNLOAD_MB * (1 << 20)) + MULTIPART_SLACK
    return LIMITS.max_job_json_bytes + 64 * 1024


class BodyLimit:
    """Pure ASGI middleware (no buffering): 413 for a body over the path's limit."""

    def __init__(self, app, settings):
        self.app = app
        self.settings = settings

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = body_limit(scope.get("path", ""), self.settings)
        declared = header(scope, b"content-length")
        if declared is not None:
            try:
                too_big = int(declared) > limit
            except ValueError:
                return await send_json(send, 400, "the Content-Length header is not a number")
            if too_big:
                return await send_json(send, 413, _message(limit))
        state = {"seen": 0, "refused": False, "started": False}

        async def counting_receive():
            message = await receive()
            if message["type"] == "http.request":
                state["seen"] += len(message.get("body", b""))
                if state["seen"] > limit:
                    state["refused"] = True
                    if not state["started"]:
                        await send_json(send, 413, _message(limit))
                        state["started"] = True
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message):
            if message["type"] == "http.response.start":
                if state["refused"]:
                    return   # the 413 already went out
                state["started"] = True
            elif state["refused"]:
                return
            await send(message)

        await self.app(scope, counting_receive, guarded_send)


def _message(limit: int) -> str:
    return f"the request body is larger than the limit of {limit} bytes"

