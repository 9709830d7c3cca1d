"""Batches through the job API: a real `run --serve` process (fake render), a webhook receiver on
127.0.0.1. Signatures are checked with hmac/hashlib (webhook_receiver.verify), not the worker's code."""
from __future__ import annotations

import time

from api_helpers import ApiProcess
from daemon_helpers import ledger, tiny_job
from webhook_receiver import Receiver, verify

SECRET = "batch-webhook-secret"
HOOKS = {"ALLOW_PRIVATE_URLS": "true", "WEBHOOK_SECRET": SECRET}


def template() -> dict:
    job = tiny_job("ignored", output_filename="{{slug}}.mp4")
    job["scenes"][0]["text"] = {"content": "{{title}}"}
    job["variables"] = {"title": "a default title"}
    return job


ROWS = [{"slug": "one", "title": "One"}, {"slug": "two"},
        {"slug": "three", "id": "boom-three"},          # the fake render fails jobs named boom*
        {"slug": "four", "title": "Four"}, {"slug": "five", "title": "Five"}]


def test_a_batch_of_five_where_the_third_fails_ends_with_one_webhook(tmp_path):
    with Receiver() as rx:
        api = ApiProcess(tmp_path, "run", "--serve", fake=True, **HOOKS)
        try:
            answer = api.post("/v1/batches", json={"template": template(), "rows": ROWS,
                                                   "batch_callback_url": rx.url})
            assert answer.status_code == 201, answer.text
            batch_id, jobs = answer.json()["id"], answer.json()["jobs"]
            assert jobs == [f"{batch_id}-1", f"{batch_id}-2", "boom-three", f"{batch_id}-4", f"{batch_id}-5"]
            (hook,) = rx.wait(1)
            view = api.get(f"/v1/batches/{batch_id}").json()
            member = api.get(f"/v1/jobs/{batch_id}-2").json()
            alone = api.post("/v1/jobs", json=tiny_job("alone")).json()["id"]
            outsider = api.get(f"/v1/jobs/{alone}").json()
            time.sleep(1.0)                     # a second webhook would come now
        finally:
            assert api.stop() == 0
        assert rx.count() == 1
    assert hook["headers"]["x-protovideo-event"] == "batch.ended"
    body = verify(hook, SECRET)
    assert body["batch_id"] == batch_id
    assert body["counts"]["finished"] == 4 and body["counts"]["failed"] == 1
    assert [j["id"] for j in body["jobs"]] == jobs
    assert {j["id"]: j["state"] for j in body["jobs"]}["boom-three"] == "failed"
    assert view["state"] == "ended" and view["counts"] == body["counts"]
    assert member["batch_id"] == batch_id and "batch_id" not in outsider
    # the other four were rendered, each to its own row's file name
    assert sorted(j for j in ledger(tmp_path) if j != "alone") == sorted(j for j in jobs if j != "boom-three")
    outputs = sorted(p.name for p in (tmp_path / "var" / "output").glob("*.mp4"))
    assert [o for o in outputs if o != "alone.mp4"] == ["five.mp4", "four.mp4", "one.mp4", "two.mp4"]


def test_a_row_with_a_missing_variable_refuses_the_batch_before_anything_is_queued(tmp_path):
    api = ApiProcess(tmp_path, "serve", **HOOKS)     # no worker
    try:
        rows = [{"slug": "a", "title": "A"}, {"title": "B"}, {"slug": "c"}, {"slug": "d", "id": "bad id"}]
        job = template()
        job["variables"] = {}
        answer = api.post("/v1/batches", json={"template": job, "rows": rows})
        listed = api.get("/v1/jobs").json()["jobs"]
        missing = api.get("/v1/batches/nope")
        hostile = api.post("/v1/batches", json={"template": job, "rows": "x", "extra": 1})
        too_many = api.post("/v1/batches", json={"template": job, "rows": [{"slug": "s", "title": "t"}] * 501})
        not_object = api.post("/v1/batches", json=[1, 2])
        described = api.get("/openapi.json").json()
        refused_hook = api.post("/v1/batches", json={"template": job, "rows": [{"slug": "s", "title": "t"}],
                                                     "batch_callback_url": "ftp://example.com/x"})
    finally:
        api.stop()
    assert answer.status_code == 400, answer.text
    errors = answer.json()["errors"]
    by_row = {}
    for e in errors:
        by_row.setdefault(e["row"], []).append(e)
    assert sorted(by_row) == [2, 3, 4]
    assert by_row[2] == [{"row": 2, "field": "output_filename",
                          "message": by_row[2][0]["message"]}] and "{{slug}}" in by_row[2][0]["message"]
    assert by_row[3][0]["field"] == "scenes[0].text.content" and "{{title}}" in by_row[3][0]["message"]
    assert by_row[4][0]["field"] == "id"
    assert listed == []
    assert missing.status_code == 404
    assert hostile.status_code == 400
    assert {e["field"] for e in hostile.json()["errors"]} == {"extra"}
    assert too_many.status_code == 400 and too_many.json()["errors"] == [
        {"row": None, "field": "rows", "message": "holds 501 rows; the limit is 500"}]
    assert not_object.status_code == 400 and not_object.json()["errors"][0]["field"] == "$"
    assert refused_hook.status_code == 400
    post = described["paths"]["/v1/batches"]["post"]
    body = post["requestBody"]["content"]["application/json"]["schema"]
    assert body["required"] == ["template", "rows"] and body["properties"]["rows"]["maxItems"] == 500
    schemas = described["components"]["schemas"]
    answer_schema = post["responses"]["400"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    assert "errors" in schemas[answer_schema]["properties"]
    view = described["paths"]["/v1/batches/{batch_id}"]["get"]["responses"]["200"]["content"]
    assert set(schemas[view["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]]["properties"]) >= {
        "id", "state", "counts", "jobs"}
    assert [e["field"] for e in refused_hook.json()["errors"]] == ["batch_callback_url"]
