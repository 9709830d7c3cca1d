"""The job API on the Redis source: `serve` (API only) and a separate worker process sharing one
Redis (a real redis-server), so any API process answers for any job.

Main flows as in test_api_jobs.py: submit, follow, download with Range, idempotency,
cancel of a queued and a running job, and the original service's POST /generate
answered by `serve` once the other process has rendered the video.
"""
from __future__ import annotations

import os
import uuid

import pytest
import redis
import requests

from api_helpers import ApiProcess, wait_state
from daemon_helpers import start_worker, stop, wait_for, worker_env
from media import ffprobe, streams
from test_api_jobs import small_job

TOKEN = "redis-api-token"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, redis_url):
    """One `serve` process and one `run` worker process on the same Redis and folders."""
    folder = tmp_path_factory.mktemp("api_redis")
    prefix = f"pvapi-{uuid.uuid4().hex[:8]}"
    shared = {"JOB_SOURCE": "redis", "REDIS_URL": redis_url, "REDIS_KEY_PREFIX": prefix,
              "LEASE_SECONDS": "30", "MAX_WORKERS": "2"}
    api = ApiProcess(folder, "serve", token=TOKEN, **shared)
    worker = start_worker(folder, worker_env(folder, **shared), fake=False, name="redis-worker")
    api.folder = folder
    yield api
    stop(worker)
    api.stop()
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(f"{prefix}:*"))
    if keys:
        client.delete(*keys)
    client.close()


def test_submit_follow_download_on_redis(cluster, tmp_path):
    created = cluster.post("/v1/jobs", json=small_job(2), headers=cluster.headers(**{"Idempotency-Key": "r-1"}))
    assert created.status_code == 201, created.text
    job_id = created.json()["id"]
    again = cluster.post("/v1/jobs", json=small_job(2), headers=cluster.headers(**{"Idempotency-Key": "r-1"}))
    assert again.status_code == 200 and again.json()["id"] == job_id
    assert job_id in [job["id"] for job in cluster.get("/v1/jobs").json()["jobs"]]
    view = wait_state(cluster, job_id, ("finished", "failed"), timeout=240)
    assert view["state"] == "finished", view
    assert view["progress"]["percent"] == 100.0
    whole = cluster.get(f"/v1/jobs/{job_id}/video")
    assert whole.status_code == 200 and whole.headers["content-type"] == "video/mp4"
    saved = tmp_path / "redis.mp4"
    saved.write_bytes(whole.content)
    assert streams(ffprobe(saved), "video")[0]["width"] == 270
    part = cluster.get(f"/v1/jobs/{job_id}/video", headers=cluster.headers(Range="bytes=0-499"))
    assert part.status_code == 206 and part.content == whole.content[:500]
    assert cluster.get("/v1/queue").json()["source"] == "redis"
    assert cluster.get(f"/v1/jobs/{job_id}/report").status_code == 200
    # a video rendered on a machine whose OUTPUT_DIR is not shared: where the record says it is
    output = view["record"]["output"]
    moved = tmp_path / "elsewhere.mp4"
    os.replace(output, moved)
    try:
        away = cluster.get(f"/v1/jobs/{job_id}/video")
        assert away.status_code == 404 and away.json()["location"] == output
    finally:
        os.replace(moved, output)


def test_cancel_queued_and_running_on_redis(cluster):
    running = cluster.post("/v1/jobs", json=small_job(40, text="A long sentence that keeps the worker busy.")).json()["id"]
    queued = cluster.post("/v1/jobs", json=small_job(1, priority="low")).json()["id"]
    wait_for(lambda: cluster.get(f"/v1/jobs/{running}").json()["progress"]["done"] >= 1, timeout=240,
             what="the long job to be running")
    assert cluster.delete(f"/v1/jobs/{queued}").json()["state"] == "cancelled"
    assert cluster.delete(f"/v1/jobs/{running}").status_code == 200
    view = wait_state(cluster, running, ("cancelled", "finished", "failed"), timeout=30)
    assert view["state"] == "cancelled", view
    assert cluster.get(f"/v1/jobs/{running}/video").status_code == 404
    assert cluster.delete(f"/v1/jobs/{running}").status_code == 409
    after = cluster.post("/v1/jobs", json=small_job(1)).json()["id"]
    assert wait_state(cluster, after, ("finished", "failed"), timeout=240)["state"] == "finished"
    assert cluster.get(f"/v1/jobs/{queued}").json()["state"] == "cancelled"


def test_original_generate_through_serve_and_a_worker_elsewhere(cluster, tmp_path):
    payload = {"output_filename": "from_redis.mp4",
               "video": {"width": 270, "height": 480, "fps": 12, "quality": "draft"},
               "scenes": [{"type": "image", "promptImage": "a calm sea", "narration_text": "Calm sea.",
                           "subtitle": True, "duration": 1}]}
    response = requests.post(cluster.url + "/generate", json=payload, headers={"x-api-key": TOKEN}, timeout=600)
    assert response.status_code == 200, response.text
    download = requests.get(cluster.url + response.json()["download_url"], headers={"x-api-key": TOKEN}, timeout=60)
    assert download.status_code == 200 and download.headers["content-type"] == "video/mp4"
    path = tmp_path / "generated.mp4"
    path.write_bytes(download.content)
    info = ffprobe(path)
    assert streams(info, "video") and streams(info, "audio")
    assert requests.post(cluster.url + "/generate", json=payload, timeout=30).status_code == 401
