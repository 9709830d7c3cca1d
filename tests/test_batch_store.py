"""The batch store on the spool's folders and on a real Redis: membership, ends noted once per job,
and the batch.ended webhook claimed by exactly one of many jobs ending at the same moment."""
from __future__ import annotations

import threading
import uuid
from types import SimpleNamespace

import pytest
import redis

from api_helpers import ApiProcess
from daemon_helpers import start_worker, stop, tiny_job, worker_env
from protovideo.service.batch_store import FileBatchStore, RedisBatchStore
from protovideo.service.batches import job_ended
from webhook_receiver import Receiver, verify


@pytest.fixture(params=["spool", "redis"])
def store(request, tmp_path):
    if request.param == "spool":
        yield FileBatchStore(tmp_path / "batches")
        return
    url = request.getfixturevalue("redis_url")
    client = redis.Redis.from_url(url, decode_responses=True)
    prefix = f"pvbatch-{uuid.uuid4().hex[:8]}"
    yield RedisBatchStore(client, prefix)
    for key in client.scan_iter(f"{prefix}:*"):
        client.delete(key)


SETTINGS = SimpleNamespace(JOB_SOURCE="spool")


def test_the_last_of_many_simultaneous_ends_claims_the_webhook_once(store):
    jobs = [f"b1-{n}" for n in range(1, 17)]
    store.create({"id": "b1", "jobs": jobs, "callback_url": "http://127.0.0.1:9/hook"})
    assert store.batch_of("b1-3") == "b1" and store.batch_of("other") is None
    assert store.get("b1")["jobs"] == jobs and store.get("../b1") is None
    payloads, start = [], threading.Barrier(len(jobs))

    def end(job_id, state):
        start.wait()
        ended = job_ended(SETTINGS, {"id": job_id, "status": state}, store)
        if ended is not None:
            payloads.append(ended)
    threads = [threading.Thread(target=end, args=(j, "failed" if j == "b1-3" else "done")) for j in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(payloads) == 1
    url, body = payloads[0]
    assert url == "http://127.0.0.1:9/hook" and body["batch_id"] == "b1"
    assert body["counts"]["finished"] == 15 and body["counts"]["failed"] == 1
    assert [j["id"] for j in body["jobs"]] == jobs
    if isinstance(store, RedisBatchStore):   # kept as long as the ended jobs' records, then gone
        assert 0 < store.r.ttl(f"{store.prefix}:batch:b1") <= 30 * 24 * 3600
        assert store.r.ttl(f"{store.prefix}:batch-of:b1-3") > 0
    # a job ending again (a retry) after the batch ended sends nothing more
    assert job_ended(SETTINGS, {"id": "b1-3", "status": "done"}, store) is None


def test_a_job_outside_any_batch_is_left_alone(store):
    assert job_ended(SETTINGS, {"id": "lonely", "status": "done"}, store) is None
    assert job_ended(SETTINGS, {"id": "lonely", "status": "queued"}, store) is None


def test_a_batch_on_redis_with_an_api_and_a_worker_process(tmp_path, redis_url):
    """`serve` takes the batch, a separate worker (fake render) ends its jobs; the webhook comes once."""
    prefix = f"pvbapi-{uuid.uuid4().hex[:8]}"
    shared = {"JOB_SOURCE": "redis", "REDIS_URL": redis_url, "REDIS_KEY_PREFIX": prefix,
              "ALLOW_PRIVATE_URLS": "true", "WEBHOOK_SECRET": "s"}
    with Receiver() as rx:
        api = ApiProcess(tmp_path, "serve", **shared)
        worker = None
        try:
            template = tiny_job("x", output_filename="{{name}}.mp4")
            rows = [{"name": "a"}, {"name": "b", "id": "boom-b"}, {"name": "c"}]
            answer = api.post("/v1/batches", json={"template": template, "rows": rows,
                                                   "batch_callback_url": rx.url})
            assert answer.status_code == 201, answer.text
            batch_id = answer.json()["id"]
            assert api.get(f"/v1/batches/{batch_id}").json()["state"] == "queued"
            worker = start_worker(tmp_path, worker_env(tmp_path, **shared))
            (hook,) = rx.wait(1)
            view = api.get(f"/v1/batches/{batch_id}").json()
        finally:
            if worker is not None:
                stop(worker)
            api.stop()
        assert rx.count() == 1
    body = verify(hook, "s")
    assert body["batch_id"] == batch_id and body["counts"]["finished"] == 2 and body["counts"]["failed"] == 1
    assert view["state"] == "ended" and view["counts"] == body["counts"]
    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter(f"{prefix}:*"):
        client.delete(key)
