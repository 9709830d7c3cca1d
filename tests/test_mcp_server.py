"""The MCP server driven as an agent's host drives it: the MCP SDK's own client launches
`main_worker.py mcp` and talks to it over stdio (mcp.client.stdio), in front of a real job API
(`serve`, with a token) and a real worker (`run`) on one spool. A bad job's errors name the
field; a 270x480 job of 2 s is submitted, watched to its end with progress, and its video URL
fetched and checked with ffprobe."""
from __future__ import annotations

import asyncio
import json
import sys
from contextlib import asynccontextmanager

import pytest
import requests

from api_helpers import ApiProcess
from daemon_helpers import ROOT, start_worker, stop, worker_env
from media import ffprobe, streams

from mcp import ClientSession, StdioServerParameters  # noqa: E402  (requirements.txt)
from mcp.client.stdio import stdio_client  # noqa: E402

TOKEN = "mcp-test-token-0123456789"
JOB = {"id": "agent-made", "video": {"width": 270, "height": 480, "fps": 12},
       "scenes": [{"narration_text": "Made by an agent.", "subtitle": True, "duration": 2,
                   "text": {"content": "Agent", "position": "top"}}]}
TOOLS = {"validate_job", "submit_job", "job_status", "watch_job", "list_jobs", "cancel_job", "video_url",
         "submit_batch", "batch_status"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("mcp")
    api = ApiProcess(tmp, "serve", token=TOKEN)
    worker = start_worker(tmp, worker_env(tmp), fake=False)
    try:
        yield tmp, api
    finally:
        stop(worker)
        api.stop()


@asynccontextmanager
async def agent(tmp, api, token=TOKEN):
    env = worker_env(tmp, API_HOST="127.0.0.1", API_PORT=api.port, API_TOKEN=token)
    params = StdioServerParameters(command=sys.executable, args=[str(ROOT / "main_worker.py"), "mcp"],
                                   env=env, cwd=str(tmp))
    with open(tmp / "mcp-stderr.log", "a") as errlog:
        async with stdio_client(params, errlog=errlog) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                yield session


def result(answer) -> dict:
    assert not answer.is_error, answer.content
    if answer.structured_content is not None:
        value = answer.structured_content
        return value.get("result", value) if set(value) == {"result"} else value
    return json.loads(answer.content[0].text)


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, timeout=600))


def test_an_agent_validates_submits_watches_and_fetches_a_video(stack):
    tmp, api = stack
    progress: list[tuple[float, float | None, str | None]] = []

    async def on_progress(value, total, message):
        progress.append((value, total, message))

    async def session_steps():
        async with agent(tmp, api) as session:
            tools = {tool.name for tool in (await session.list_tools()).tools}
            assert TOOLS <= tools
            bad = result(await session.call_tool("validate_job", {"job": {"scenes": [{"duration": "two"}]}}))
            assert bad["valid"] is False
            assert [e["field"] for e in bad["errors"]] == ["scenes[0].duration"], bad
            good = result(await session.call_tool("validate_job", {"job": JOB}))
            assert good == {"valid": True, "errors": []}
            refused = result(await session.call_tool("submit_job", {"job": {"scenes": []}}))
            assert refused["errors"][0]["field"] == "scenes"
            submitted = result(await session.call_tool("submit_job", {"job": JOB, "idempotency_key": "agent-1"}))
            assert submitted["id"] == "agent-made" and submitted["state"] == "queued" and submitted["created"]
            again = result(await session.call_tool("submit_job", {"job": JOB, "idempotency_key": "agent-1"}))
            assert again["id"] == "agent-made" and not again["created"]   # the API's idempotency
            watched = result(await session.call_tool("watch_job", {"job_id": "agent-made", "timeout_s": 300},
                                                     progress_callback=on_progress))
            listed = result(await session.call_tool("list_jobs", {"state": "finished"}))
            url = result(await session.call_tool("video_url", {"job_id": "agent-made"}))
            cancel = await session.call_tool("cancel_job", {"job_id": "agent-made"})
            missing = await session.call_tool("job_status", {"job_id": "no-such-job"})
            return watched, listed, url, cancel, missing

    watched, listed, url, cancel, missing = run(session_steps())
    assert watched["state"] == "finished" and watched["ended"] is True, watched
    assert progress and progress[-1][0] == 100.0 and progress[-1][1] == 100.0, progress
    assert all(total == 100.0 for _, total, _ in progress)
    assert [p for p, _, _ in progress] == sorted(p for p, _, _ in progress)   # never backwards
    assert progress[0][2].startswith(("queued", "started")) and progress[-1][2].startswith("finished")
    assert "agent-made" in [j["id"] for j in listed["jobs"]]
    assert cancel.is_error and "finished" in cancel.content[0].text.lower()
    assert missing.is_error and "no-such-job" in missing.content[0].text
    # the URL is the API's and wants its token, as any API client's request does
    assert url["url"].startswith(api.url) and url["needs_token"] is True
    assert requests.get(url["url"], timeout=30).status_code == 401
    video = requests.get(url["url"], headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60)
    assert video.status_code == 200 and video.headers["content-type"].startswith("video/mp4")
    path = tmp / "fetched.mp4"
    path.write_bytes(video.content)
    info = ffprobe(path)
    (v,), (a,) = streams(info, "video"), streams(info, "audio")
    assert (v["codec_name"], v["width"], v["height"]) == ("h264", 270, 480) and a["codec_name"] == "aac"
    assert 1.9 <= float(info["format"]["duration"]) <= 3.5
    assert requests.get(url["subtitles_vtt"], headers={"Authorization": f"Bearer {TOKEN}"},
                        timeout=30).text.startswith("WEBVTT")


def test_an_agent_submits_a_batch_and_follows_it(stack):
    tmp, api = stack
    template = {"video": {"width": 270, "height": 480, "fps": 12, "transition": "cut", "quality": "draft"},
                "output_filename": "agent-{{name}}.mp4", "scenes": [{"duration": 1, "text": "{{name}}"}]}

    async def steps():
        async with agent(tmp, api) as session:
            refused = result(await session.call_tool("submit_batch", {"template": template,
                                                                      "rows": [{"name": "a"}, {}]}))
            queued = result(await session.call_tool("submit_batch", {"template": template,
                                                                     "rows": [{"name": "a"}, {"name": "b"}]}))
            for _ in range(600):
                status = result(await session.call_tool("batch_status", {"batch_id": queued["id"]}))
                if status["state"] == "ended":
                    break
                await asyncio.sleep(0.2)
            missing = await session.call_tool("batch_status", {"batch_id": "no-such-batch"})
            return refused, queued, status, missing

    refused, queued, status, missing = run(steps())
    assert [(e["row"], e["field"]) for e in refused["errors"]] == [(2, "output_filename"), (2, "scenes[0].text")]
    assert queued["jobs"] == [f"{queued['id']}-1", f"{queued['id']}-2"]
    assert status["state"] == "ended" and status["counts"]["finished"] == 2, status
    assert missing.is_error and "no-such-batch" in missing.content[0].text
    assert (tmp / "var" / "output" / "agent-b.mp4").is_file()


def test_an_agent_with_a_wrong_token_gets_the_apis_refusal(stack):
    tmp, api = stack

    async def steps():
        async with agent(tmp, api, token="not-the-token") as session:
            return await session.call_tool("validate_job", {"job": JOB})

    answer = run(steps())
    assert answer.is_error
    text = answer.content[0].text
    assert "401" in text and "API_TOKEN" in text and "not-the-token" not in text
