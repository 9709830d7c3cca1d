"""The job API as a FastAPI application: `create_app(settings)`.

Routers (one module each): public (greeting, dashboard, health, docs, login, session),
jobs (/v1/jobs, /v1/validate), batches (/v1/batches), live (/v1/events, /v1/workers, retry), files (videos, reports, posters, captions),
assets (uploads), compat (the original service's /generate, /download, /generate-task),
system (/metrics, /v1/queue, /v1/system). Every router but `public` needs the token
(see auth.py). Errors are JSON: {"detail": message}; invalid jobs {"errors": [...]}.

In front of routing, outermost first, each answering before a body is read:
security headers on every answer (browser.security_headers, also on errors), the Host
check (400), the browser guard (403 foreign origin, 415 not JSON), the token gate (401),
the body bound (413).
"""
from __future__ import annotations

import importlib
import logging
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from secure.middleware import SecureASGIMiddleware
from starlette.middleware.trustedhost import TrustedHostMiddleware

import protovideo
from protovideo.service.api.auth import TokenGate
from protovideo.service.api.browser import BrowserGuard, security_headers, served_hosts
from protovideo.service.api.limits import BodyLimit
from protovideo.service.api.routes_public import STATIC_DIR
from protovideo.service.api.sessions import LoginThrottle, open_sessions
from protovideo.service.api.waiting import JobEndWatch

log = logging.getLogger("protovideo.api")
PROTECTED_ROUTERS = ("routes_jobs", "routes_batches", "routes_files", "routes_assets", "routes_compat",
                     "routes_system", "routes_live")
PUBLIC_EXTRA = ("/openapi.json",)   # and /v1/schema/job.json (routes_public)
STATIC_PREFIX = "/static/"


class JobApi(FastAPI):
    """FastAPI with the security headers outside its error handling, so a 500 carries them too."""

    def build_middleware_stack(self):
        return SecureASGIMiddleware(super().build_middleware_stack(),
                                    secure=security_headers(getattr(self.state, "settings", None)))

    def openapi(self) -> dict:
        """FastAPI's description with the job format's schema in it (bodies.describe_jobs)."""
        if not self.openapi_schema:
            from protovideo.service.api.bodies import describe_jobs
            from protovideo.service.api.bodies_system import describe_gate
            self.openapi_schema = describe_gate(describe_jobs(super().openapi()),
                                                getattr(self.state, "public_paths", frozenset()))
        return self.openapi_schema


def create_app(settings, store=None) -> FastAPI:
    """The application over `store` (a job source; opened from settings when None)."""
    from protovideo.service.api import routes_public
    if store is None:
        from protovideo.service.sources import open_source
        store = open_source(settings, worker_name="api")
    app = JobApi(title="ProtoVideo job API", version=protovideo.__version__,
                 description="Submit JSON video jobs, follow them, download the videos.",
                 docs_url=None, redoc_url=None, openapi_url="/openapi.json")
    app.state.settings = settings
    app.state.store = store
    from protovideo.service.webhooks import final_listener
    store.add_final_listener(final_listener(settings))   # webhooks of jobs ended here (cancels)
    app.state.sessions = open_sessions(store)
    app.state.login_throttle = LoginThrottle()
    app.state.job_ends = JobEndWatch(store)
    public = frozenset({route.path for route in routes_public.router.routes} | set(PUBLIC_EXTRA))
    app.state.public_paths = public
    # add_middleware puts each one outside the ones before it: innermost first
    app.add_middleware(BodyLimit, settings=settings)
    app.add_middleware(TokenGate, settings=settings, sessions=app.state.sessions, public=public,
                       public_prefixes=(STATIC_PREFIX,))
    app.add_middleware(BrowserGuard, settings=settings)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=served_hosts(settings), www_redirect=False)
    _add_error_handlers(app)
    app.include_router(routes_public.router)
    for module_name in PROTECTED_ROUTERS:
        module = importlib.import_module(f"protovideo.service.api.{module_name}")
        app.include_router(module.router)
    if STATIC_DIR.is_dir():
        app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, exc: RequestValidationError):
        errors = [{"field": ".".join(str(p) for p in err.get("loc", ())[1:]) or "$",
                   "message": err.get("msg", "invalid")} for err in exc.errors()]
        first = errors[0] if errors else {"field": "$", "message": "invalid request"}
        return JSONResponse(status_code=400, content={
            "detail": f"invalid request: {first['field']}: {first['message']}", "errors": errors})

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception):
        log.exception("API %s %s failed", request.method, request.url.path)
        return JSONResponse(status_code=500, content={
            "detail": f"internal error ({type(exc).__name__}); see the worker log"})
