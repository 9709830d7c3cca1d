"""Routes anyone may call: the greeting or dashboard at /, /health, /docs, login, logout, session."""
from __future__ import annotations

import html
import math
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from pydantic import BaseModel

from protovideo.service.api.auth import COOKIE, token_ok
from protovideo.service.api.bodies_system import Health, LoginAnswer, LogoutAnswer, SessionState, detail

router = APIRouter()
STATIC_DIR = Path(__file__).resolve().parent / "static"   # the dashboard (index.html and its files)


def greeting() -> dict:
    """The original service's answer at GET / (its clients look for "message" and "/generate")."""
    return {
        "message": "Welcome to the Video Generation API! Use POST /generate with your video project "
                   "JSON to create a video, or POST /v1/jobs to queue one.",
        "usage": {"endpoint": "/generate", "method": "POST",
                  "json_structure": {"output_filename": "string (e.g. my_video.mp4)",
                                     "narration_text": "string (optional, spread over all scenes)",
                                     "scenes": [{"type": "image or video",
                                                 "image": "url or path (image scenes)",
                                                 "promptImage": "string (picture to generate)",
                                                 "video": "url or path (video scenes)",
                                                 "narration": "url or path to audio (optional)",
                                                 "narration_text": "string (optional)",
                                                 "music": "url or path (optional)",
                                                 "duration": "seconds",
                                                 "subtitle": "bool",
                                                 "text": {"content": "string",
                                                          "position": "center|top|bottom",
                                                          "fontsize": "int", "color": "string"}}]}},
        "routes": ["POST /generate", "GET /download/{filename}", "POST /generate-task",
                   "GET /task-status/{task_id}", "POST /v1/jobs", "GET /v1/jobs",
                   "GET /v1/jobs/{id}", "DELETE /v1/jobs/{id}", "GET /v1/jobs/{id}/video",
                   "POST /v1/assets", "GET /v1/queue", "GET /health", "GET /metrics", "GET /docs"],
    }


@router.get("/", include_in_schema=False)
def root(request: Request):
    page = STATIC_DIR / "index.html"
    if "text/html" in request.headers.get("accept", "") and page.is_file():
        return FileResponse(page, media_type="text/html; charset=utf-8")
    return greeting()


@router.get("/health", responses={200: {"model": Health}, 503: {"model": Health, "description": "not taking jobs"}},
            summary="Health: 200 while the worker takes jobs, 503 when not")
def health():
    from protovideo.pipeline.memory_watch import shared_watch
    from protovideo.pipeline.metrics import shared_metrics
    shared_watch().sample()
    body = shared_metrics().health()
    return JSONResponse(status_code=200 if body["taking_jobs"] else 503, content=body)


class Login(BaseModel):
    token: str


@router.post("/v1/login", responses={200: {"model": LoginAnswer, "description": "signed in (the cookie is set)"},
                                     401: detail("wrong token"), 429: detail("too many failed logins; see Retry-After")},
             summary="Trade API_TOKEN for an HttpOnly session cookie (browsers); "
                                  "429 with Retry-After after 5 failures a minute")
def login(body: Login, request: Request):
    state = request.app.state
    token, client = state.settings.API_TOKEN, request.client.host if request.client else "?"
    wait = state.login_throttle.retry_after(client)
    if wait is not None:
        return JSONResponse(status_code=429, headers={"Retry-After": str(math.ceil(wait))},
                            content={"detail": f"too many failed logins from {client}; "
                                               f"try again in {math.ceil(wait)} s"})
    if token and not token_ok(token, body.token):
        state.login_throttle.failed(client)
        return JSONResponse(status_code=401, content={"detail": "wrong token"})
    response = JSONResponse({"ok": True, "auth": bool(token)})
    if token:
        state.login_throttle.succeeded(client)
        response.set_cookie(COOKIE, state.sessions.create(), max_age=int(state.sessions.ttl_s), path="/",
                            httponly=True, samesite="strict", secure=_over_https(request))
    return response


def _over_https(request: Request) -> bool:
    public = request.app.state.settings.API_PUBLIC_URL
    return request.url.scheme == "https" or public.lower().startswith("https:")


@router.post("/v1/logout", responses={200: {"model": LogoutAnswer}}, summary="End the session (server-side) and drop its cookie")
def logout(request: Request):
    session_id = request.cookies.get(COOKIE)
    if session_id:
        request.app.state.sessions.end(session_id)
    response = JSONResponse({"ok": True})
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict", secure=_over_https(request))
    return response


@router.get("/v1/session", response_model=SessionState, summary="Whether this server asks for a token (auth) and whether this "
                                   "request carries a valid one or a live session (signed_in)")
async def session(request: Request):
    from protovideo.service.api.auth import TokenGate
    token = request.app.state.settings.API_TOKEN
    if not token:
        return {"auth": False, "signed_in": True}
    gate = TokenGate(None, request.app.state.settings, request.app.state.sessions, frozenset(), ())
    return {"auth": True, "signed_in": await gate.authorized(request.scope)}


@router.get("/v1/schema/job.json", response_class=Response, responses={200: {"description": "a JSON Schema (draft 2020-12)", "content": {
                "application/schema+json": {"schema": {"type": "object"}}}}}, summary="The job format as JSON Schema (draft 2020-12), for editors and "
                                          "client generators; the plug-ins' names and fields included")
def job_schema():
    from generators.plugins import load_all
    from jobmodel.schema import job_json_schema
    load_all()
    return JSONResponse(job_json_schema(), media_type="application/schema+json")


@router.get("/docs", include_in_schema=False)
def docs(request: Request) -> Response:
    """Every route with its summary, from the OpenAPI description (offline: no CDN)."""
    schema = request.app.openapi()
    rows = []
    for path, methods in schema.get("paths", {}).items():
        for method, op in methods.items():
            rows.append(f"<tr><td><code>{method.upper()}</code></td><td><code>{html.escape(path)}</code>"
                        f"</td><td>{html.escape(op.get('summary') or '')}</td></tr>")
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>ProtoVideo job API</title>
<link rel="stylesheet" href="/static/docs.css">
</head><body><h1>ProtoVideo job API {html.escape(schema.get('info', {}).get('version', ''))}</h1>
<p>Machine-readable description: <a href="/openapi.json">/openapi.json</a>. Auth: <code>Authorization:
Bearer API_TOKEN</code> or <code>x-api-key: API_TOKEN</code>. Full guide: docs/API.md.</p>
<table><tr><th>method</th><th>path</th><th>what</th></tr>{''.join(rows)}</table></body></html>"""
    return HTMLResponse(page)
