"""Two "machines" sharing one Redis queue and one S3 store (SPEC "Storage and several machines").

Machine A and machine B are real `run --serve` processes (worker + job API), each with its own
OUTPUT_DIR, CACHE_DIR, WORK_DIR and REPORT_DIR, on one Redis (a real redis-server) and one real
S3 server (Ceph radosgw, scripts/s3_server.sh). A renders a job and stops; B's API serves it by
presigned URLs that a plain HTTP client fetches (ffprobe checks the video, a Range request gets
206), the webhook's body and every answer name no local path, and B rendering the same job
again makes nothing anew: the report's hits come from the S3 level. A killed with SIGKILL while
publishing: B takes the job and publishes it once.

Faults in one process with the real pipeline and worker: a store that is down (a closed port:
retried, then a clear failure record, the finished files kept), its gateway killed and started
again between two attempts (published once), a duplicated job (never replaces other bytes).
"""
from __future__ import annotations

import hashlib
import json
import uuid
from urllib.parse import urlsplit

import pytest
import redis
import requests

from api_helpers import ApiProcess, wait_state
from media import ffprobe, streams
from test_api_jobs import small_job
from webhook_receiver import Receiver, verify

TOKEN = "two-machines-token"
SECRET = "hook-secret-two-machines"
MADE = ("tts", "tts_synthesis", "image_generation", "simple_background", "render_scene",
        "render_transition", "audio_mix", "mux", "poster")   # the steps that make something


@pytest.fixture(scope="module")
def shared(tmp_path_factory, redis_url, s3_server):
    prefix = f"two-{uuid.uuid4().hex[:8]}"
    aws = {**s3_server.env, "AWS_CONFIG_FILE": "/nonexistent", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent"}
    settings = {"JOB_SOURCE": "redis", "REDIS_URL": redis_url, "REDIS_KEY_PREFIX": prefix,
                "OUTPUT_STORE": f"s3://outputs/{prefix}", "CACHE_STORE": f"s3://cache/{prefix}",
                "URL_TTL": "600", "LEASE_SECONDS": "30", "MAX_WORKERS": "2",
                "ALLOW_PRIVATE_URLS": "true", "WEBHOOK_SECRET": SECRET, "WEBHOOK_RETRY_BACKOFF": "0.2", **aws}
    yield {"settings": settings, "prefix": prefix, "root": tmp_path_factory.mktemp("machines")}
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(f"{prefix}:*"))
    if keys:
        client.delete(*keys)
    client.close()


def machine(shared, name: str) -> ApiProcess:
    folder = shared["root"] / name
    folder.mkdir(exist_ok=True)
    api = ApiProcess(folder, "run", "--serve", token=TOKEN, name=name, **shared["settings"])
    api.folder = folder
    return api


def fetch(url: str, **headers) -> requests.Response:
    """A client on another machine: the URL alone, no token."""
    return requests.get(url, headers=headers, timeout=60)


def test_a_job_rendered_on_a_is_served_by_b_and_rendered_again_by_b_from_the_shared_cache(shared, tmp_path):
    job = small_job(2, text="Rendered on machine A.", id="two-a-1")
    with Receiver() as hook:
        a = machine(shared, "a")
        try:
            job["callback_url"] = hook.url
            assert a.post("/v1/jobs", json=job).status_code == 201
            done_a = wait_state(a, "two-a-1", ("finished", "failed"), timeout=300)
            assert done_a["state"] == "finished", done_a
            (request,) = hook.wait(1)
        finally:
            a.stop()
    body = verify(request, SECRET)   # the final record as the webhook sent it
    key = f"{shared['prefix']}/two-a-1/two-a-1.mp4"
    assert body["output"] == f"s3://outputs/{key}" and body["store"] == "s3"
    assert urlsplit(body["download_url"]).path == f"/outputs/{key}" and "X-Amz-Signature=" in body["download_url"]
    assert set(body["links"]) >= {"video", "poster", "subtitles_vtt", "subtitles_srt", "manifest", "report"}
    assert all(value.startswith("s3://") for value in [body["poster"], body["manifest"], body["report"],
                                                        *body["subtitles"]])
    assert str(shared["root"]) not in json.dumps(body)   # no path of either machine
    assert not list((shared["root"] / "a" / "var" / "output").glob("*.mp4"))   # nothing kept on A
    assert not list((shared["root"] / "a" / "var" / "work" / "outbox").glob("*/*"))

    b = machine(shared, "b")
    try:
        view = b.get("/v1/jobs/two-a-1").json()
        text = json.dumps(view)
        assert str(shared["root"]) not in text
        video_url = view["links"]["video"]
        assert video_url.startswith(shared["settings"]["AWS_ENDPOINT_URL_S3"]) and view["record"]["download_url"] == video_url
        whole = fetch(video_url)
        assert whole.status_code == 200 and whole.headers["content-type"] == "video/mp4"
        saved = tmp_path / "from_b.mp4"
        saved.write_bytes(whole.content)
        assert streams(ffprobe(saved), "video")[0]["width"] == 270 and streams(ffprobe(saved), "audio")
        part = fetch(video_url, Range="bytes=100-599")
        assert part.status_code == 206 and part.content == whole.content[100:600]
        tampered = video_url.replace("two-a-1.mp4", "two-a-1.jpg")   # the signature is for the video
        assert fetch(tampered).status_code == 403
        # B's own routes: the video by a redirect to the store, the captions read from it
        moved = b.get("/v1/jobs/two-a-1/video", allow_redirects=False)
        assert moved.status_code == 307 and urlsplit(moved.headers["location"]).path == f"/outputs/{key}"
        vtt = b.get("/v1/jobs/two-a-1/subtitles.vtt")
        assert vtt.status_code == 200 and vtt.text.startswith("WEBVTT") and "Rendered" in vtt.text
        assert fetch(view["links"]["poster"]).content[:3] == b"\xff\xd8\xff"
        report_a = fetch(view["links"]["report"]).json()   # A's report, from the store
        assert report_a["cache_stats"]["hits"] == 0 and report_a["output"] == f"s3://outputs/{key}"

        again = {**job, "id": "two-b-1"}
        again.pop("callback_url")
        assert b.post("/v1/jobs", json=again).status_code == 201
        done_b = wait_state(b, "two-b-1", ("finished", "failed"), timeout=300)
        assert done_b["state"] == "finished", done_b
        report_b = b.get("/v1/jobs/two-b-1/report").json()
        # the original service's /generate and /download, on S3
        endpoint = shared["settings"]["AWS_ENDPOINT_URL_S3"]
        original = b.post("/generate", timeout=300, json={
            "output_filename": "orig.mp4", "video": {"width": 270, "height": 480, "fps": 12, "quality": "draft"},
            "scenes": [{"type": "image", "duration": 1}]})
        assert original.status_code == 200, original.text
        url = original.json()["download_url"]
        assert url.startswith(endpoint) and "X-Amz-Signature=" in url and url.split("?")[0].endswith("_orig.mp4")
        got = tmp_path / "orig.mp4"
        got.write_bytes(fetch(url).content)
        assert streams(ffprobe(got), "video")
        name = urlsplit(url).path.rsplit("/", 1)[1]
        moved = b.get(f"/download/{name}", allow_redirects=False)
        assert moved.status_code == 307 and urlsplit(moved.headers["location"]).path == urlsplit(url).path
        # the dashboard's player may load from the store (its routes redirect there)
        assert f"media-src 'self' {endpoint}" in b.get("/health").headers["content-security-policy"]
    finally:
        b.stop()
    stats = report_b["cache_stats"]
    assert stats["hit_rate"] >= 0.9 and stats["by_level"].get("s3", 0) >= 1, stats
    assert not set(MADE) & set(report_b["steps"]), report_b["steps"]   # nothing made anew on B
    again_video = fetch(done_b["links"]["video"])
    assert again_video.content == whole.content   # the same bytes: copied, not made


# ---------------------------------------------------------------- faults (one process, the real pipeline)
def _store_job(job_id: str, text: str) -> dict:
    return {"id": job_id, "video": {"width": 160, "height": 284, "fps": 12, "quality": "draft", "transition": "cut"},
            "scenes": [{"duration": 1, "motion": "none", "narration_text": text}]}


@pytest.fixture
def store_settings(make_settings, s3_env):
    import storage  # noqa: F401  (the sinks, registered as at start)
    prefix = f"faults-{uuid.uuid4().hex[:8]}"
    return prefix, lambda **extra: make_settings(OUTPUT_STORE=f"s3://outputs/{prefix}", **extra)


def test_a_store_that_is_down_is_retried_then_fails_the_job_clearly_keeping_the_files(store_settings, monkeypatch):
    """The store's port is closed: each publish is tried again with the backoff, the worker tries
    the job again (MAX_ATTEMPTS), then the failure record names the store and the file; the
    finished video stays on the local disk."""
    from jobmodel.backoff import Backoff
    from protovideo.service.sources.spool import SpoolSource
    from protovideo.service.worker import Worker
    import storage.s3_sink as s3_sink
    from api_helpers import free_port

    _prefix, settings_for = store_settings
    monkeypatch.setattr(s3_sink, "PUBLISH_BACKOFF", Backoff(0.05, 0.1))
    monkeypatch.setattr(s3_sink, "PUBLISH_ATTEMPTS", 2)
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", f"http://127.0.0.1:{free_port()}")   # nothing listens
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")   # botocore's own tries: the sink's are what is tested
    settings = settings_for(MAX_ATTEMPTS=2, RETRY_BACKOFF=0.1)
    source = SpoolSource(settings)
    source.submit(_store_job("down-1", "The store is down."))
    worker = Worker(settings, source, once=True)
    worker.run(install_signals=False)
    record = json.loads((settings.path("SPOOL_DIR") / "failed" / "down-1.json").read_text())
    assert record["status"] == "failed" and record["attempts"] == 2, record
    assert record["error"]["type"] == "StoreUnavailable"
    message = record["error"]["message"]
    assert "publishing down-1.mp4" in message and f"s3://outputs/{_prefix}" in message and "2 times" in message
    assert worker.counts["retried"] == 1 and worker.counts["failed"] == 1
    from protovideo.service.api.describe import describe_error
    words = describe_error(record)   # what the dashboard and GET /v1/jobs/{id} say
    assert "not published" in words["summary"] and "failed 2 times" in words["detail"]
    kept = settings.path("WORK_DIR") / "outbox" / "down-1" / "down-1.mp4"
    assert streams(ffprobe(kept), "video")                    # the finished file is still here
    assert not list(settings.path("OUTPUT_DIR").glob("*.mp4"))


def test_a_duplicated_job_never_replaces_a_finished_output_with_other_bytes(store_settings, s3_server):
    from generators.plugins import load_all
    from job_parsing import parse_job
    from protovideo.pipeline.render import make_context, render_job
    from storage import PublishConflict
    load_all()
    prefix, settings_for = store_settings
    settings = settings_for()
    first = render_job(parse_job(_store_job("dup-1", "The first words."), base_dir=settings.path("WORK_DIR")),
                       make_context(settings))
    key = f"{prefix}/dup-1/dup-1.mp4"
    assert first.output == f"s3://outputs/{key}" and "video" in first.delivered.new
    client = s3_server.client()
    published = client.get_object(Bucket="outputs", Key=key)["Body"].read()
    # the same id, other words: other bytes under the same name are refused, the first stay
    with pytest.raises(PublishConflict, match="dup-1.mp4"):
        render_job(parse_job(_store_job("dup-1", "Other words now."), base_dir=settings.path("WORK_DIR")),
                   make_context(settings))
    assert client.get_object(Bucket="outputs", Key=key)["Body"].read() == published
    # the same job again (a retry, a duplicate): nothing new, the same object, and it succeeds
    again = render_job(parse_job(_store_job("dup-1", "The first words."), base_dir=settings.path("WORK_DIR")),
                       make_context(settings))
    assert again.delivered.new == () and again.output == first.output
    assert client.get_object(Bucket="outputs", Key=key)["Body"].read() == published


def test_a_store_stopped_during_a_job_and_started_again_gets_its_output_once(store_settings, s3_server,
                                                                              monkeypatch):
    """The gateway is killed before the job publishes: the attempt fails (the store does not
    answer through the sink's tries), the gateway comes back, the job's next attempt publishes,
    and the store holds one video whose bytes are the finished file's."""
    from jobmodel.backoff import Backoff
    from protovideo.pipeline.runtime import Runtime
    from protovideo.service.middleware import Middleware, default_middleware
    from protovideo.service.sources.spool import SpoolSource
    from protovideo.service.worker import Worker
    import storage.s3_sink as s3_sink

    class GatewayBack(Middleware):   # the store comes back once the first attempt has failed
        started = False

        def after_job_failed(self, worker, claimed, error):
            if not self.started:
                s3_server.start_gateway()
                self.started = True

    prefix, settings_for = store_settings
    monkeypatch.setattr(s3_sink, "PUBLISH_BACKOFF", Backoff(0.05, 0.1))
    monkeypatch.setattr(s3_sink, "PUBLISH_ATTEMPTS", 2)
    settings = settings_for(MAX_ATTEMPTS=3, RETRY_BACKOFF=0.1)
    source = SpoolSource(settings)
    source.submit(_store_job("back-1", "The store comes back."))
    runtime = Runtime.of(settings)
    back = GatewayBack()
    worker = Worker(runtime, source, once=True, middleware=default_middleware(runtime) + [back])
    s3_server.stop_gateway()
    try:
        worker.run(install_signals=False)
    finally:
        if not back.started:
            s3_server.start_gateway()   # whatever happened, the store is up for the next test
    record = json.loads((settings.path("SPOOL_DIR") / "done" / "back-1.json").read_text())
    assert record["attempts"] == 2 and worker.counts == {**worker.counts, "done": 1, "retried": 1}
    key = f"{prefix}/back-1/back-1.mp4"
    assert record["output"] == f"s3://outputs/{key}"
    client = s3_server.client()
    listed = client.list_objects_v2(Bucket="outputs", Prefix=f"{prefix}/back-1/")["Contents"]
    assert sorted(o["Key"].rsplit("/", 1)[1] for o in listed) == sorted(record["files"].values())
    body = client.get_object(Bucket="outputs", Key=key)["Body"].read()
    saved = settings.path("WORK_DIR") / "got.mp4"
    saved.write_bytes(body)
    assert streams(ffprobe(saved), "video")
    assert not (settings.path("WORK_DIR") / "outbox" / "back-1").exists()   # published, then the staged copies went


def test_a_worker_killed_while_publishing_leaves_the_job_to_another_that_publishes_it_once(shared, s3_server):
    """Machine A is SIGKILLed as soon as its finished files are staged for publishing (in the
    middle of step 8); once A's lease runs out machine B takes the job, renders it from the
    shared cache and publishes: one object per name, the bytes of the claim."""
    import os
    import signal
    import time

    settings = {**shared["settings"], "LEASE_SECONDS": "2"}
    for name in ("a", "b"):
        (shared["root"] / name).mkdir(exist_ok=True)
    job = small_job(1, text="Killed while publishing.", id="killed-1")
    a = ApiProcess(shared["root"] / "a", "run", "--serve", token=TOKEN, name="a-killed", **settings)
    try:
        assert a.post("/v1/jobs", json=job).status_code == 201
        staged = shared["root"] / "a" / "var" / "work" / "outbox" / "killed-1" / "killed-1.mp4"
        deadline = time.monotonic() + 240
        while not staged.exists() and time.monotonic() < deadline and a.proc.poll() is None:
            time.sleep(0.005)
        assert staged.exists(), "A never staged its video"
        os.kill(a.proc.pid, signal.SIGKILL)
        a.proc.wait(timeout=30)
    finally:
        a.stop()
    b = ApiProcess(shared["root"] / "b", "run", "--serve", token=TOKEN, name="b-killed", **settings)
    try:
        done = wait_state(b, "killed-1", ("finished", "failed"), timeout=240)
    finally:
        b.stop()
    assert done["state"] == "finished", done
    assert done["attempts"] >= 2, done   # A's attempt, then B's
    client = s3_server.client()
    prefix = f"{shared['prefix']}/killed-1/"
    names = [o["Key"][len(prefix):] for o in client.list_objects_v2(Bucket="outputs", Prefix=prefix)["Contents"]]
    assert sorted(names) == sorted(done["record"]["files"].values())   # each name once
    claim = json.loads(client.get_object(Bucket="outputs", Key=f"{shared['prefix']}/.publish/killed-1/killed-1.mp4")
                       ["Body"].read())
    head = client.head_object(Bucket="outputs", Key=f"{prefix}killed-1.mp4")
    assert (head["ContentLength"], head["Metadata"]["sha256"]) == (claim["size"], claim["sha256"])
    video = fetch(done["links"]["video"])
    assert hashlib.sha256(video.content).hexdigest() == claim["sha256"]
