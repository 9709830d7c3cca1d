"""`protovideo mcp` (`python main_worker.py mcp`): an MCP server on stdio, so an AI agent can
make videos: validate a job, submit it, watch it to its end (with progress), list and cancel
jobs, and get a finished video's URL.

The server is a client of the job API over HTTP (`serve` or `run --serve`, here or elsewhere):
API_PUBLIC_URL when it is set, else http://API_HOST:API_PORT (a wildcard host is reached on
loopback), with API_TOKEN as its bearer token. So an agent has exactly the rights, checks and
limits of any API client: the API's authentication, its job-size and upload limits, its
validation, its Idempotency-Key handling, its address policy for URLs in jobs. It holds no job
state and opens no spool or Redis of its own. Why this shape: docs/MCP.md.

Nothing but the protocol goes to stdout; messages for people go to stderr.
"""
# no `from __future__ import annotations`: the MCP SDK reads the tools' annotations at run time
import sys
import time
from typing import Any
from urllib.parse import quote, urljoin

import anyio
import requests

from protovideo.cli.progress_text import progress_text

POLL_S = 1.0              # how often watch_job asks for the job
HTTP_TIMEOUT_S = 30.0
ENDED = ("finished", "failed", "cancelled")


class JobApi:
    """The few calls of the job API the tools use; errors become messages an agent can act on."""

    def __init__(self, base_url: str, token: str = ""):
        self.base = base_url.rstrip("/") + "/"
        self.session = requests.Session()
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"
        self.has_token = bool(token)

    def url(self, path: str) -> str:
        return urljoin(self.base, path.lstrip("/"))

    def call(self, method: str, path: str, **kwargs) -> tuple[int, Any]:
        from mcp.server.mcpserver.exceptions import ToolError
        try:
            answer = self.session.request(method, self.url(path), timeout=HTTP_TIMEOUT_S, **kwargs)
        except requests.RequestException as exc:
            raise ToolError(f"cannot reach the job API at {self.base} ({type(exc).__name__}); start it with "
                            "`protovideo serve` (or `run --serve`), or set API_PUBLIC_URL") from None
        try:
            body = answer.json()
        except ValueError:
            body = {"detail": answer.text[:500]}
        if answer.status_code in (401, 403):
            raise ToolError(f"the job API refused the request ({answer.status_code}): "
                            f"{_detail(body)}; set API_TOKEN to the API's token")
        if answer.status_code >= 500:
            raise ToolError(f"the job API failed ({answer.status_code}): {_detail(body)}")
        return answer.status_code, body

    def job(self, job_id: str) -> dict:
        from mcp.server.mcpserver.exceptions import ToolError
        status, body = self.call("GET", f"/v1/jobs/{quote(job_id, safe='')}")
        if status != 200:
            raise ToolError(f"job {job_id!r}: {_detail(body)}")
        return body


def _detail(body: Any) -> str:
    if isinstance(body, dict):
        if "errors" in body:
            return "; ".join(f"{e.get('field')}: {e.get('message')}" for e in body["errors"])
        return str(body.get("detail", body))[:500]
    return str(body)[:500]


def _summary(job: dict) -> dict:
    """The parts of an API job an agent needs (links made absolute by the caller)."""
    keep = ("id", "state", "priority", "attempts", "progress", "eta_s", "submitted_at", "started_at",
            "finished_at", "cancel_requested", "retry_pending", "links")
    out = {k: job[k] for k in keep if k in job}
    record = job.get("record") or {}
    if job.get("state") == "failed" and record.get("error"):
        out["error"] = record["error"]
    if job.get("state") == "finished":
        out["duration_s"] = record.get("duration_s")
    return out


def api_from_settings(settings) -> JobApi:
    public = (getattr(settings, "API_PUBLIC_URL", "") or "").strip()
    if public:
        return JobApi(public, settings.API_TOKEN)
    host = settings.API_HOST
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
    host = f"[{host}]" if ":" in host else host
    return JobApi(f"http://{host}:{settings.API_PORT}", settings.API_TOKEN)


def build_server(api: JobApi):
    from mcp.server.mcpserver import Context, MCPServer
    from mcp.server.mcpserver.exceptions import ToolError
    from protovideo import __version__

    server = MCPServer("protovideo", version=__version__, instructions=(
        "Make narrated short videos from JSON jobs. A job is {\"scenes\": [...]} with per scene e.g. "
        "narration_text, promptImage or image (URL), text (a title), subtitle, duration; the format in "
        "full is docs/JOB_FORMAT.md of the ProtoVideo worker. Call validate_job first: its errors name "
        "each field by its JSON path. Then submit_job, watch_job until it has ended, video_url."))

    async def call(method: str, path: str, **kwargs) -> tuple[int, Any]:
        return await anyio.to_thread.run_sync(lambda: api.call(method, path, **kwargs))

    def absolute(job: dict) -> dict:
        if isinstance(job.get("links"), dict):
            job["links"] = {k: api.url(v) for k, v in job["links"].items()}
        return job

    @server.tool()
    async def validate_job(job: dict[str, Any]) -> dict:
        """Check a job without queueing it. Returns {"valid", "errors": [{"field", "message"}]}: every
        problem at once, each naming its field by JSON path (e.g. scenes[2].duration)."""
        status, body = await call("POST", "/v1/validate", json=job)
        if status == 200:
            return {"valid": bool(body.get("valid")), "errors": body.get("errors", [])}
        if status == 400 and "errors" in body:
            return {"valid": False, "errors": body["errors"]}
        raise ToolError(f"validate: {_detail(body)}")

    @server.tool()
    async def submit_job(job: dict[str, Any], priority: str | None = None,
                         idempotency_key: str | None = None) -> dict:
        """Queue a job for rendering. priority: critical, high, normal or low. The same
        idempotency_key again (or the id of a job still queued or running) queues nothing and
        returns that job. Returns {"id", "state", "links"}, or {"errors"} for an invalid job."""
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        params = {"priority": priority} if priority else {}
        status, body = await call("POST", "/v1/jobs", json=job, headers=headers, params=params)
        if status in (200, 201):
            return absolute({k: body[k] for k in ("id", "state", "links") if k in body}
                            | {"created": status == 201})
        if status == 400 and "errors" in body:
            return {"errors": body["errors"]}
        raise ToolError(f"submit: {_detail(body)}")

    @server.tool()
    async def job_status(job_id: str) -> dict:
        """A job's state now: state (queued, started, finished, failed, cancelled), progress
        {done, total, what, percent}, eta_s, the error of a failed job, links."""
        return absolute(_summary(await anyio.to_thread.run_sync(api.job, job_id)))

    @server.tool()
    async def watch_job(job_id: str, ctx: Context, timeout_s: float = 900) -> dict:
        """Wait until the job has ended (finished, failed or cancelled), reporting its progress as
        it goes; returns its final state (as job_status). After timeout_s (at most 3600) it
        returns the state it has then, with "ended": false: call it again to wait on."""
        deadline = time.monotonic() + max(1.0, min(float(timeout_s), 3600.0))
        last = None
        while True:
            job = await anyio.to_thread.run_sync(api.job, job_id)
            progress = job.get("progress") or {}
            seen = (job.get("state"), progress.get("done"), progress.get("percent"))
            if seen != last:
                last = seen
                message = str(job.get("state"))
                if job.get("state") not in ENDED:   # "started: scene 2 of 5, 34 %, about 1 min 12 s left"
                    message += ": " + progress_text(progress, job.get("eta_s"))
                percent = 100.0 if job.get("state") in ENDED else float(progress.get("percent") or 0.0)
                await ctx.report_progress(percent, 100.0, message)
            if job.get("state") in ENDED or time.monotonic() >= deadline:
                return absolute(_summary(job)) | {"ended": job.get("state") in ENDED}
            await anyio.sleep(POLL_S)

    @server.tool()
    async def list_jobs(state: str | None = None, priority: str | None = None, limit: int = 20,
                        cursor: str | None = None) -> dict:
        """Jobs, newest first: {"jobs": [...], "next_cursor"}. state: queued, started, finished,
        failed or cancelled; pass next_cursor back as cursor for the next page."""
        params = {k: v for k, v in (("state", state), ("priority", priority), ("cursor", cursor)) if v}
        params["limit"] = max(1, min(int(limit), 1000))
        status, body = await call("GET", "/v1/jobs", params=params)
        if status != 200:
            raise ToolError(f"list: {_detail(body)}")
        return {"jobs": [absolute(_summary(j)) for j in body.get("jobs", [])],
                "next_cursor": body.get("next_cursor")}

    @server.tool()
    async def cancel_job(job_id: str) -> dict:
        """Cancel a queued job (at once) or a running one (its worker stops it within seconds; no
        output). A job that has ended cannot be cancelled."""
        status, body = await call("DELETE", f"/v1/jobs/{quote(job_id, safe='')}")
        if status == 200:
            return absolute(_summary(body))
        raise ToolError(f"cancel {job_id!r}: {_detail(body)}")

    @server.tool()
    async def submit_batch(template: dict[str, Any], rows: list[dict[str, Any]],
                           batch_callback_url: str | None = None) -> dict:
        """Queue one job per row of a template: the template is a job whose strings hold {{name}}
        placeholders, each row an object of values (a row's "id" names its job). Every row is checked
        first: {"errors": [{"row", "field", "message"}]} and nothing queued when any is invalid;
        else {"id", "jobs": [ids]}. Follow it with batch_status (or watch_job per job)."""
        body = {"template": template, "rows": rows}
        if batch_callback_url:
            body["batch_callback_url"] = batch_callback_url
        status, answer = await call("POST", "/v1/batches", json=body)
        if status == 201:
            return {"id": answer["id"], "jobs": answer["jobs"]}
        if status == 400 and "errors" in answer:
            return {"errors": answer["errors"]}
        raise ToolError(f"submit_batch: {_detail(answer)}")

    @server.tool()
    async def batch_status(batch_id: str) -> dict:
        """A batch now: state (queued, started, or ended once every job has ended), counts per job
        state, and each job's id and state (with the error of a failed one)."""
        status, answer = await call("GET", f"/v1/batches/{quote(batch_id, safe='')}")
        if status == 200:
            return answer
        raise ToolError(f"batch {batch_id!r}: {_detail(answer)}")

    @server.tool()
    async def video_url(job_id: str) -> dict:
        """The URL of a finished job's MP4, with its poster and captions. "needs_token": true means
        the URL is on the job API and wants the API's token (Authorization: Bearer)."""
        job = await anyio.to_thread.run_sync(api.job, job_id)
        if job.get("state") != "finished":
            raise ToolError(f"job {job_id!r} is {job.get('state')}, not finished: no video yet")
        links, record = job.get("links") or {}, job.get("record") or {}
        direct = record.get("download_url")
        url = direct if isinstance(direct, str) and direct.startswith(("http://", "https://")) \
            else api.url(links["video"])
        extra = {name: api.url(links[name]) for name in ("poster", "subtitles_vtt", "subtitles_srt")
                 if name in links}
        return {"id": job_id, "url": url, **extra, "duration_s": record.get("duration_s"),
                "needs_token": api.has_token and url.startswith(api.base)}

    return server


def mcp_command(args, settings) -> int:
    try:
        import mcp  # noqa: F401
    except ImportError:
        print("error: the MCP server needs the `mcp` package (pip install -r requirements.txt)", file=sys.stderr)
        return 2
    api = api_from_settings(settings)
    print(f"protovideo MCP server on stdio, job API {api.base}", file=sys.stderr)
    build_server(api).run("stdio")
    return 0
