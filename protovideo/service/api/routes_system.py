"""Routes about the machine rather than one job: /metrics, /v1/queue, /v1/system."""
from __future__ import annotations

import threading
import time

from fastapi import APIRouter, Request
from prometheus_client import make_asgi_app

import protovideo
from protovideo.service.api.bodies_system import QueueView, SystemView

router = APIRouter()
_CACHE_LOCK = threading.Lock()
_CACHE_STATS: dict = {"at": 0.0, "value": None}
CACHE_STATS_TTL_S = 5.0


def queue_view(store) -> dict:
    """Depths per priority, jobs waiting for a retry, jobs in progress (from the source)."""
    status = dict(store.status())
    status["in_progress"] = status.get("started", 0)
    return status


@router.get("/v1/queue", responses={200: {"model": QueueView}}, summary="Queue depths per priority, retry_pending, in_progress")
def queue(request: Request):
    return queue_view(request.app.state.store)


class MetricsApp:
    """GET /metrics: prometheus-client's own ASGI exposition (`make_asgi_app`) of this process's
    metrics (behind the token: auth.TokenGate answers before routing); the queue depth is this
    API's store's."""

    async def __call__(self, scope, receive, send) -> None:
        from protovideo.pipeline.metrics import shared_metrics
        shared = shared_metrics()
        shared.watch_queue(scope["app"].state.store)
        await make_asgi_app(shared.registry)(scope, receive, send)


# an ASGI app as the endpoint: FastAPI keeps it as it is
router.add_route("/metrics", MetricsApp(), methods=["GET"], include_in_schema=False)


def cache_stats(settings) -> dict:
    """The artifact cache's lifetime counts and size (read at most every few seconds)."""
    with _CACHE_LOCK:
        if _CACHE_STATS["value"] is not None and time.monotonic() - _CACHE_STATS["at"] < CACHE_STATS_TTL_S:
            return _CACHE_STATS["value"]
    from cache.store import open_cache
    if not settings.CACHE_ENABLED:
        value = {"enabled": False}
    else:
        cache = open_cache(settings)
        try:
            info = cache.stats()
        finally:
            cache.close()
        lifetime = info.get("lifetime") or {}
        value = {"enabled": True, "hits": lifetime.get("hits", 0), "misses": lifetime.get("misses", 0),
                 "hit_rate": lifetime.get("hit_rate", 0.0), "entries": info.get("entries", 0),
                 "size_mb": info.get("size_mb", 0.0), "max_size_mb": info.get("max_size_mb"),
                 "by_kind": lifetime.get("by_kind", {})}
    with _CACHE_LOCK:
        _CACHE_STATS.update(at=time.monotonic(), value=value)
    return value


@router.get("/v1/system", responses={200: {"model": SystemView}}, summary="Memory (RSS, GPU), cache statistics, the job source, the version")
def system(request: Request):
    from protovideo.pipeline.memory_watch import shared_watch
    settings = request.app.state.settings
    watch = shared_watch(settings)
    watch.sample()
    try:
        cache = cache_stats(settings)
    except Exception as exc:   # noqa: BLE001 - the page still shows the rest
        cache = {"error": f"{type(exc).__name__}: {exc}"}
    return {"memory": {**watch.state(), "process": request.app.state.mode},
            "cache": cache, "source": queue_view(request.app.state.store),
            "version": protovideo.__version__}
