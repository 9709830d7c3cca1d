"""The job API over HTTP (`serve`, `run --serve`): FastAPI routes in front of the job source.

    app.py            create_app(settings, store): routers, body limit, JSON errors
    auth.py           API_TOKEN (bearer, x-api-key, login cookie); loopback-only without it
    limits.py         request body bounds (413)
    routes_public.py  GET / (greeting or dashboard), /health, /docs, /v1/login, /v1/logout
    routes_system.py  /metrics, /v1/queue, /v1/system
    server.py         uvicorn in the foreground or on a thread beside the worker
"""
