"""Running a queue through the API: /v1/events (server-sent events), /v1/workers, retry, search.

A `run --serve` process with the fast fake render (daemon_helpers) answers the HTTP tests;
the events are read off the wire and parsed here line by line (the SSE format: `event:`,
`data:`, a blank line), not with the server's own code. The subscriber bookkeeping is
checked in a server run in this process, where its hub can be looked at.
"""
from __future__ import annotations

import json
import socket
import threading
import time

import pytest
import requests

from api_helpers import ApiProcess, free_port, wait_state
from daemon_helpers import tiny_job, wait_for

TOKEN = "live-token-7d2e"


def read_events(response, into: list, stop: threading.Event) -> None:
    """Parse an SSE stream into (event, data) pairs until `stop` or the stream ends."""
    name, data = "message", []
    try:
        for raw in response.iter_lines(decode_unicode=True):
            if stop.is_set():
                return
            line = raw if raw is not None else ""
            if line == "":
                if data:
                    into.append((name, json.loads("\n".join(data))))
                name, data = "message", []
            elif line.startswith(":"):
                continue   # a comment: the keep-alive ping
            else:
                field, _, value = line.partition(":")
                value = value[1:] if value.startswith(" ") else value
                if field == "event":
                    name = value
                elif field == "data":
                    data.append(value)
    except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError, AttributeError):
        return


class Stream:
    """GET /v1/events read on a thread; `.events` fills as they come."""

    def __init__(self, api: ApiProcess):
        self.events: list = []
        self.stop = threading.Event()
        self.response = requests.get(api.url + "/v1/events", headers=api.headers(), stream=True, timeout=60)
        assert self.response.status_code == 200, self.response.text
        self.thread = threading.Thread(target=read_events, args=(self.response, self.events, self.stop),
                                       daemon=True)
        self.thread.start()

    def jobs(self, job_id: str) -> list[dict]:
        return [data for name, data in list(self.events) if name == "job" and data.get("id") == job_id]

    def close(self) -> None:
        self.stop.set()
        self.response.close()


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    folder = tmp_path_factory.mktemp("api_live")
    server = ApiProcess(folder, "run", "--serve", fake=True, token=TOKEN, FAKE_SCENE_SECONDS="0.4",
                        LEASE_SECONDS="30", MAX_ATTEMPTS="1")
    server.folder = folder
    yield server
    server.stop()


def test_events_need_the_token(api):
    assert requests.get(api.url + "/v1/events", timeout=10).status_code == 401
    wrong = requests.get(api.url + "/v1/events", headers={"Authorization": "Bearer nope"}, timeout=10)
    assert wrong.status_code == 401
    with requests.get(api.url + "/v1/events", headers=api.headers(), stream=True, timeout=10) as ok:
        assert ok.status_code == 200
        assert ok.headers["content-type"].startswith("text/event-stream")


def test_a_job_s_changes_arrive_as_events(api):
    stream = Stream(api)
    try:
        wait_for(lambda: any(name == "ready" for name, _ in stream.events), timeout=30, what="the ready event")
        created = api.post("/v1/jobs", json=tiny_job("live-one", scenes=10, output_filename="live-one.mp4"))
        assert created.status_code == 201, created.text
        wait_for(lambda: any(e["state"] == "finished" for e in stream.jobs("live-one")), timeout=120,
                 what="the finished event of live-one")
        seen = stream.jobs("live-one")
        for data in seen:
            assert {"id", "state", "progress", "eta_s"} <= data.keys(), data
            assert {"done", "total", "percent"} <= data["progress"].keys()
        states = [e["state"] for e in seen]
        assert states[-1] == "finished" and "started" in states, states
        done = [e["progress"]["done"] for e in seen if e["state"] == "started"]
        assert done == sorted(done) and len(set(done)) >= 2, f"progress did not move in the events: {seen}"
        assert any(name == "queue" for name, _ in stream.events)
    finally:
        stream.close()


def test_workers_lists_the_worker_and_its_job(api):
    listed = wait_for(lambda: api.get("/v1/workers").json()["workers"], timeout=30, what="a worker listed")
    worker = listed[0]
    assert worker["host"] == socket.gethostname() and worker["pid"] == api.proc.pid, worker
    assert worker["alive"] and worker["age_s"] < 30
    api.post("/v1/jobs", json=tiny_job("live-busy", scenes=6, output_filename="live-busy.mp4"))

    def busy():
        found = api.get("/v1/workers").json()["workers"]
        return found and found[0]["current_job"] == "live-busy" and found[0]["state"] == "busy"
    wait_for(busy, timeout=60, what="the worker to list live-busy as its current job")
    wait_state(api, "live-busy", "finished", timeout=120)
    wait_for(lambda: api.get("/v1/workers").json()["workers"][0]["current_job"] is None, timeout=30,
             what="the worker to be idle again")
    assert requests.get(api.url + "/v1/workers", timeout=10).status_code == 401


def test_retry_queues_a_cancelled_job_again_and_refuses_others(api):
    api.post("/v1/jobs", json=tiny_job("live-long", scenes=8, output_filename="live-long.mp4"))
    wait_state(api, "live-long", "started", timeout=60)
    api.post("/v1/jobs", json=tiny_job("live-again", scenes=1, output_filename="live-again.mp4"))
    assert api.delete("/v1/jobs/live-again").json()["state"] == "cancelled"
    assert api.post("/v1/jobs/live-long/retry").status_code == 409      # running
    again = api.post("/v1/jobs/live-again/retry")
    assert again.status_code == 200, again.text
    assert again.json()["state"] == "queued"
    assert api.post("/v1/jobs/live-again/retry").status_code == 409     # queued already
    view = wait_state(api, "live-again", "finished", timeout=120)        # a worker finishes it
    assert (api.folder / "var" / "output" / "live-again.mp4").is_file(), view
    finished = api.post("/v1/jobs/live-again/retry")
    assert finished.status_code == 409 and "finished" in finished.json()["detail"]
    assert api.post("/v1/jobs/no-such-job/retry").status_code == 404
    assert requests.post(api.url + "/v1/jobs/live-again/retry", timeout=10).status_code == 401


def test_a_failed_job_says_what_went_wrong_in_words(api):
    api.post("/v1/jobs", json=tiny_job("boom-words", output_filename="boom-words.mp4"))
    view = wait_state(api, "boom-words", "failed", timeout=120)
    assert view["record"]["error"]["type"] == "JobFailed"          # the raw error stays on record
    words = view["error"]
    assert words["summary"].startswith("Rendering scene 1 failed"), words
    assert "JobFailed" not in json.dumps(words)
    again = api.post("/v1/jobs/boom-words/retry")                     # failed: may be retried
    assert again.status_code == 200 and again.json()["state"] in ("queued", "started")   # a worker may take it at once
    wait_state(api, "boom-words", "failed", timeout=120)


def test_search_finds_ids_and_titles_page_by_page(api):
    for n in range(7):
        job = tiny_job(f"find-{n}", output_filename=f"find-{n}.mp4")
        job["scenes"][0]["text"] = {"content": f"Harbour tour {n}" if n % 2 else f"City walk {n}"}
        api.post("/v1/jobs", json=job)
    first = api.get("/v1/jobs", params={"q": "harbour", "limit": 2}).json()
    assert [j["id"] for j in first["jobs"]] == ["find-5", "find-3"], first
    second = api.get("/v1/jobs", params={"q": "harbour", "limit": 2, "cursor": first["next_cursor"]}).json()
    assert [j["id"] for j in second["jobs"]] == ["find-1"], second
    assert api.get("/v1/jobs", params={"q": "FIND-4"}).json()["jobs"][0]["id"] == "find-4"
    assert api.get("/v1/jobs", params={"q": "city 6"}).json()["jobs"][0]["title"] == "City walk 6"
    assert api.get("/v1/jobs", params={"q": "nothing like it"}).json()["jobs"] == []


# ---------------------------------------------------------------- in this process: the hub itself
@pytest.fixture
def local_server(make_settings):
    import uvicorn
    from protovideo.service.api.app import create_app
    settings = make_settings(API_HOST="127.0.0.1", API_PORT=free_port(), API_TOKEN=TOKEN)
    app = create_app(settings)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=settings.API_PORT, log_config=None,
                                           timeout_graceful_shutdown=2))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for(lambda: server.started, timeout=30, what="the in-process server")
    yield app, f"http://127.0.0.1:{settings.API_PORT}"
    server.should_exit = True
    thread.join(15)


def test_a_client_that_leaves_frees_its_subscriber(local_server):
    app, url = local_server
    headers = {"Authorization": f"Bearer {TOKEN}"}
    streams = [requests.get(url + "/v1/events", headers=headers, stream=True, timeout=30) for _ in range(20)]
    readers = [response.iter_lines() for response in streams]   # kept: a dropped reader closes its stream
    for response, lines in zip(streams, readers):
        assert response.status_code == 200
        assert next(lines).startswith(b"event: ready")
    hub = app.state.events
    assert len(hub.subscribers) == 20
    # one look at the store per poll, whatever the number of listeners
    before, started = hub.looks, time.monotonic()
    time.sleep(3 * hub.poll_s)
    assert hub.looks - before <= (time.monotonic() - started) / hub.poll_s + 1
    for response in streams:
        response.close()
    wait_for(lambda: not hub.subscribers, timeout=30, what="every subscriber to be let go")
    wait_for(lambda: hub._poller is None or hub._poller.done(), timeout=30, what="the poller to stop")
