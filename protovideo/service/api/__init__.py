"""The job API over HTTP (`serve`, `run --serve`): FastAPI routes in front of the job source.

    app.py            create_app(settings, store): routers, the ASGI guards in front, JSON errors
    browser.py        what a browser may do: served Host names, JSON-only state changes from the
                      API's own pages (403/415), security headers (CSP, X-Frame-Options, ...)
    auth.py           API_TOKEN (bearer, x-api-key, session cookie) checked before any body is
                      read (TokenGate); loopback-only without a token
    sessions.py       server-side login sessions (memory, or Redis with the Redis source) and
                      the failed-login throttle
    limits.py         request body bounds (413), counted while they stream
    asgi.py           headers and JSON answers for the pure ASGI middleware
    waiting.py        /generate's wait for a job's end: one poller, no thread per waiting call
    validation.py     a submitted job's problems, each with its JSON path
    views.py          a job as the API shows it (progress percent, ETA, links)
    eta.py            ETA from the reports of earlier jobs
    routes_public.py  GET / (greeting or dashboard), /health, /docs, /v1/login, /v1/logout, /v1/session
    routes_jobs.py    /v1/jobs (submit, list with search, get, cancel), /v1/validate
    routes_batches.py /v1/batches (a template and its rows -> jobs; a batch's state)
    routes_live.py    /v1/events (server-sent events), /v1/workers, POST /v1/jobs/{id}/retry
    events.py         the one poller behind /v1/events, fanning changes out to every listener
    search.py         `q=` of GET /v1/jobs: ids and titles matched page by page, bounded
    describe.py       a failed job's error in words (summary, detail) for people
    routes_files.py   /v1/jobs/{id}/video (Range), /report, /poster.jpg, /subtitles.vtt|srt
    routes_assets.py  POST /v1/assets (uploads, checked like downloads)
    routes_compat.py  the original service's /generate, /download, /generate-task, /task-status
    routes_system.py  /metrics, /v1/queue, /v1/system
    server.py         uvicorn in the foreground or on a thread beside the worker
    static/           the dashboard: index.html, style.css and plain ES modules (app.js: start,
                      sign-in, queue chips; live.js: EventSource, polling only when it fails;
                      jobs.js: table, paging, search, cancel; detail.js: a job opened, retry,
                      clone; workers.js; submit.js: form; timeline.js: step chart;
                      jsonlocate.js: where a JSON path sits in the text; api.js, dom.js)
"""
