"""Webhooks through the job API: the real server in its own process, a receiver on 127.0.0.1.

Signatures are checked with hmac/hashlib (webhook_receiver.verify), not the worker's code.
"""
from __future__ import annotations

from api_helpers import ApiProcess, wait_state
from daemon_helpers import tiny_job, wait_for
from webhook_receiver import Receiver, verify

SECRET = "api-webhook-secret"
HOOKS = {"ALLOW_PRIVATE_URLS": "true", "WEBHOOK_SECRET": SECRET}


def test_a_job_s_webhook_is_retried_after_500s_and_across_a_restart(tmp_path):
    """The receiver answers 500 until the worker (run --serve) has been restarted: the
    same delivery arrives again from the new process, signed, and ends at the first 200."""
    with Receiver(default=500) as rx:
        env = dict(HOOKS, WEBHOOK_RETRY_BACKOFF="0.5")
        first = ApiProcess(tmp_path, "run", "--serve", fake=True, name="first", **env)
        try:
            answer = first.post("/v1/jobs", json=tiny_job("api-hooked", callback_url=rx.url))
            assert answer.status_code == 201, answer.text
            record = wait_state(first, "api-hooked", "finished")["record"]
            rx.wait(2)                                   # 500 twice
        finally:
            assert first.stop() == 0
        before_restart = rx.count()
        rx.answer(200)
        second = ApiProcess(tmp_path, "run", "--serve", fake=True, name="second", **env)
        try:
            tries = rx.wait(before_restart + 1)
            wait_for(lambda: not list((tmp_path / "var" / "spool" / "webhooks" / "pending").glob("*.json")),
                     what="no delivery left pending")
        finally:
            assert second.stop() == 0
        assert rx.count() == before_restart + 1          # delivered once: nothing after the 200
    statuses = [t["status"] for t in tries]
    assert statuses == [500] * before_restart + [200] and before_restart >= 2
    bodies = [verify(t, SECRET) for t in tries]
    assert all(body == bodies[0] for body in bodies)
    assert bodies[-1] == record and bodies[-1]["status"] == "done"
    assert {t["headers"]["x-protovideo-event"] for t in tries} == {"job.finished"}
    assert len({t["headers"]["x-protovideo-delivery"] for t in tries}) == 1


def test_a_queued_job_cancelled_through_the_api_fires_job_cancelled(tmp_path):
    with Receiver() as rx:
        api = ApiProcess(tmp_path, "serve", **HOOKS)    # no worker: the job stays queued
        try:
            answer = api.post("/v1/jobs", json=tiny_job("api-cancelled", callback_url=rx.url))
            assert answer.status_code == 201, answer.text
            assert api.delete("/v1/jobs/api-cancelled").json()["state"] == "cancelled"
            (request,) = rx.wait(1)
            record = api.get("/v1/jobs/api-cancelled").json()["record"]
            whole = api.get("/v1/jobs/api-cancelled", params={"with_job": "true"}).json()
        finally:
            api.stop()
    assert request["headers"]["x-protovideo-event"] == "job.cancelled"
    body = verify(request, SECRET)
    # the webhook carries the whole record; the API's view leaves the job's copy to ?with_job=true
    assert {k: v for k, v in body.items() if k != "job"} == record
    assert body["job"] == whole["job"] and body["status"] == "cancelled" and body["was"] == "queued"


def test_a_private_callback_url_is_a_400_naming_the_field(tmp_path):
    api = ApiProcess(tmp_path, "serve")                 # ALLOW_PRIVATE_URLS off
    try:
        job = tiny_job("private-hook", callback_url="http://169.254.169.254/latest/meta-data")
        job["scenes"][0]["duration"] = -1                # every problem at once
        answer = api.post("/v1/jobs", json=job)
        assert answer.status_code == 400
        fields = {e["field"]: e["message"] for e in answer.json()["errors"]}
        assert "callback_url" in fields and "refused" in fields["callback_url"]
        assert "scenes[0].duration" in fields
        ok = api.post("/v1/jobs", json=tiny_job("public-hook", callback_url="https://93.184.215.14/h"))
        assert ok.status_code == 201, ok.text
    finally:
        api.stop()
