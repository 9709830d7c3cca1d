"""The job API as a FastAPI application: `create_app(settings)`.

Routers (one module each): public (greeting, dashboard, health, docs, login),
jobs (/v1/jobs, /v1/validate), files (videos, reports, posters, captions),
assets (uploads), compat (the original service's /generate, /download, /generate-task),
system (/metrics, /v1/queue, /v1/system). Every router but `public` needs the token
(see auth.py). Errors are JSON: {"detail": message}; invalid jobs {"errors": [...]}.
"""
from __future__ import annotations

import importlib
import logging
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

import protovideo
from protovideo.service.api.auth import require_token
from protovideo.service.api.limits import BodyLimit
from protovideo.service.api.routes_public import STATIC_DIR

log = logging.getLogger("protovideo.api")
PROTECTED_ROUTERS = ("routes_jobs", "routes_files", "routes_assets", "routes_compat", "routes_system")


def create_app(settings, store=None) -> FastAPI:
    """The application over `store` (a job source; opened from settings when None)."""
    from protovideo.service.api import routes_public
    if store is None:
        from protovideo.service.sources import open_source
        store = open_source(settings, worker_name="api")
    app = FastAPI(title="ProtoVideo job API", version=protovideo.__version__,
                  description="Submit JSON video jobs, follow them, download the videos.",
                  docs_url=None, redoc_url=None, openapi_url="/openapi.json")
    app.state.settings = settings
    app.state.store = store
    from protovideo.service.webhooks import final_listener
    store.add_final_listener(final_listener(settings))   # webhooks of jobs ended here (cancels)
    app.add_middleware(BodyLimit, settings=settings)
    _add_error_handlers(app)
    app.include_router(routes_public.router)
    protected = [Depends(require_token)]
    for module_name in PROTECTED_ROUTERS:
        module = importlib.import_module(f"protovideo.service.api.{module_name}")
        app.include_router(module.router, dependencies=protected)
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
