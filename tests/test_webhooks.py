"""Webhooks: the final record POSTed, signed, retried, kept across restarts, address-checked.

Real worker processes (main_worker.py run; the fake render of daemon_helpers where
the video does not matter) and a real HTTP receiver on 127.0.0.1. Signatures are
checked with hmac/hashlib in webhook_receiver.verify, not with the worker's code.
"""
from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import redis

from daemon_helpers import ROOT, ledger, read_json, start_worker, stop, tiny_job, wait_for, worker_env
from jobmodel.errors import JobInvalid
from media import ffprobe, streams
from job_parsing import parse_job
from protovideo.runtime.settings import SettingsError, load_settings
from protovideo.service.sources.spool import SpoolSource
from protovideo.service.webhook_outbox import open_outbox
from protovideo.service.webhooks import Deliverer, check_callback_url, job_ended
from webhook_receiver import Receiver, verify

SECRET = "s3cret-for-tests"


def hook_env(tmp_path, **extra):
    values = {"ALLOW_PRIVATE_URLS": "true", "WEBHOOK_SECRET": SECRET, "WEBHOOK_RETRY_BACKOFF": "0.2"}
    return worker_env(tmp_path, **{**values, **extra})


def spool(env) -> SpoolSource:
    return SpoolSource(load_settings(env, read_files=False), worker_name="test")


def outbox(env):
    return open_outbox(load_settings(env, read_files=False))


def test_a_rendered_job_is_delivered_once_with_a_valid_signature(tmp_path):
    with Receiver() as rx:
        env = hook_env(tmp_path)
        spool(env).submit(tiny_job("hooked", callback_url=rx.url))
        worker = start_worker(tmp_path, env, "--once", fake=False, name="real")
        assert worker.wait(timeout=300) == 0, (tmp_path / "real.out").read_text()
        done = read_json(tmp_path / "var" / "spool" / "done" / "hooked.json")
        (request,) = rx.wait(1)
        assert rx.count() == 1
    assert request["path"] == "/hook"
    assert request["headers"]["x-protovideo-event"] == "job.finished"
    assert request["headers"]["content-type"] == "application/json"
    body = verify(request, SECRET)
    assert body == done                       # the final record, as the spool keeps it
    assert body["status"] == "done" and body["output"].endswith("hooked.mp4")
    assert streams(ffprobe(Path(body["output"])), "video")    # the record names a real video
    assert outbox(env).pending() == []
    delivered = list((tmp_path / "var" / "spool" / "webhooks" / "delivered").glob("*.json"))
    assert len(delivered) == 1
    assert SECRET not in (tmp_path / "worker.log").read_text()


def test_500_twice_then_200_is_delivered_on_the_third_try(tmp_path):
    with Receiver(statuses=[500, 500]) as rx:
        env = hook_env(tmp_path, WEBHOOK_URL=rx.url)     # no callback_url: WEBHOOK_URL
        worker = start_worker(tmp_path, env)
        try:
            spool(env).submit(tiny_job("boom-failing"))
            tries = rx.wait(3)
            wait_for(lambda: outbox(env).pending() == [], what="the outbox to empty")
        finally:
            assert stop(worker) == 0
        assert rx.count() == 3
    assert [t["status"] for t in tries] == [500, 500, 200]
    bodies = [verify(t, SECRET) for t in tries]        # every try signed, the same record
    assert bodies[0] == bodies[1] == bodies[2]
    assert bodies[2]["status"] == "failed" and bodies[2]["id"] == "boom-failing"
    assert bodies[2]["error"]["type"] == "JobFailed"
    assert {t["headers"]["x-protovideo-event"] for t in tries} == {"job.failed"}
    assert len({t["headers"]["x-protovideo-delivery"] for t in tries}) == 1
    assert bodies[2] == read_json(tmp_path / "var" / "spool" / "failed" / "boom-failing.json")


def test_a_retried_attempt_sends_nothing_until_the_job_ends(tmp_path):
    with Receiver() as rx:
        env = hook_env(tmp_path, WEBHOOK_URL=rx.url, MAX_ATTEMPTS="2", RETRY_BACKOFF="0.1")
        spool(env).submit(tiny_job("transient-twice"))
        worker = start_worker(tmp_path, env, "--once")
        worker.wait(timeout=120)
        (request,) = rx.wait(1)
        assert rx.count() == 1
    body = verify(request, SECRET)
    assert body["status"] == "failed" and body["attempts"] == 2


def test_a_pending_delivery_survives_a_worker_restart(tmp_path):
    with Receiver(default=500) as rx:
        env = hook_env(tmp_path, WEBHOOK_RETRY_BACKOFF="1")
        spool(env).submit(tiny_job("survivor", callback_url=rx.url))
        first = start_worker(tmp_path, env, name="first")
        try:
            rx.wait(1)
        finally:
            assert stop(first) == 0
        wait_for(lambda: first.poll() is not None, what="the first worker to exit")
        pending = outbox(env).pending()
        assert [p["job_id"] for p in pending] == ["survivor"]   # kept on disk
        answered = rx.count()
        rx.answer(200)
        second = start_worker(tmp_path, env, name="second")
        try:
            requests = rx.wait(answered + 1)
            wait_for(lambda: outbox(env).pending() == [], what="the outbox to empty")
        finally:
            assert stop(second) == 0
    last = requests[-1]
    assert last["status"] == 200
    body = verify(last, SECRET)
    assert body == read_json(tmp_path / "var" / "spool" / "done" / "survivor.json")
    assert ledger(tmp_path) == ["survivor"]               # rendered once


# ---------------------------------------------------------------- the address policy
@pytest.mark.parametrize("url", ["http://127.0.0.1:9/hook", "http://169.254.169.254/latest",
                                 "http://10.1.2.3/hook", "http://[::1]/hook", "http://localhost/x"])
def test_submit_refuses_a_private_callback_url(tmp_path, url):
    env = worker_env(tmp_path)
    job = tmp_path / "job.json"
    job.write_text(json.dumps(tiny_job("private", callback_url=url)))
    done = subprocess.run([sys.executable, str(ROOT / "main_worker.py"), "submit", str(job)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert "callback_url" in done.stderr and "refused" in done.stderr
    assert list((tmp_path / "var" / "spool" / "incoming").glob("*.json")) == []
    allowed = subprocess.run([sys.executable, str(ROOT / "main_worker.py"), "submit", str(job)],
                             cwd=tmp_path, env=dict(env, ALLOW_PRIVATE_URLS="true"),
                             capture_output=True, text=True, timeout=60)
    assert allowed.returncode == 0, allowed.stderr


@pytest.mark.parametrize("url", ["ftp://example.com/x", "http://", "example.com/hook",
                                 "https://user:pw@example.com/hook", 42])
def test_a_malformed_callback_url_is_an_invalid_job_naming_the_field(url):
    with pytest.raises(JobInvalid) as caught:
        parse_job(tiny_job("bad", callback_url=url))
    assert caught.value.field == "callback_url"


def test_a_public_callback_url_is_accepted(tmp_path):
    settings = load_settings(worker_env(tmp_path), read_files=False)
    assert parse_job(tiny_job("ok", callback_url="https://93.184.215.14/h")).callback_url
    assert check_callback_url("https://93.184.215.14/h", settings) == "https://93.184.215.14/h"


def test_delivery_checks_the_address_again(tmp_path):
    """A job dropped into the spool (no submit check) with a loopback callback_url: the
    worker renders it, but the delivery is refused and nothing reaches the receiver."""
    with Receiver() as rx:
        env = worker_env(tmp_path, WEBHOOK_SECRET=SECRET)      # ALLOW_PRIVATE_URLS off
        spool(env).submit(tiny_job("sneaky", callback_url=rx.url))
        worker = start_worker(tmp_path, env, "--once")
        assert worker.wait(timeout=120) == 0
        assert rx.count() == 0
    failed = list((tmp_path / "var" / "spool" / "webhooks" / "failed").glob("*.json"))
    assert len(failed) == 1
    item = read_json(failed[0])
    assert item["job_id"] == "sneaky" and "refused" in item["last_error"]
    assert item["attempts"] == 1


def test_webhook_settings_are_checked(tmp_path):
    with pytest.raises(SettingsError) as caught:
        load_settings(worker_env(tmp_path, WEBHOOK_URL="ftp://x/y"), read_files=False)
    assert caught.value.name == "WEBHOOK_URL"


def test_a_queued_job_cancelled_on_the_command_line_fires_job_cancelled(tmp_path):
    """`cancel JOB_ID` (no worker involved) queues the webhook; the next worker delivers it."""
    with Receiver() as rx:
        env = hook_env(tmp_path)
        spool(env).submit(tiny_job("gone", callback_url=rx.url))
        done = subprocess.run([sys.executable, str(ROOT / "main_worker.py"), "cancel", "gone"],
                              cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert [p["event"] for p in outbox(env).pending()] == ["job.cancelled"]
        worker = start_worker(tmp_path, env, "--once")
        assert worker.wait(timeout=120) == 0
        (request,) = rx.wait(1)
    assert request["headers"]["x-protovideo-event"] == "job.cancelled"
    body = verify(request, SECRET)
    assert body == read_json(tmp_path / "var" / "spool" / "cancelled" / "gone.json")
    assert body["status"] == "cancelled" and body["job"]["callback_url"] == rx.url
    assert ledger(tmp_path) == []                       # never rendered


# ---------------------------------------------------------------- the outboxes (disk and Redis)
@pytest.fixture(params=["spool", "redis"])
def outbox_settings(request, make_settings):
    values = {"ALLOW_PRIVATE_URLS": "true", "WEBHOOK_SECRET": SECRET, "WEBHOOK_RETRY_BACKOFF": "0.1"}
    if request.param == "redis":
        redis_url = request.getfixturevalue("redis_url")
        prefix = f"pvhook-{uuid.uuid4().hex[:10]}"
        yield make_settings(JOB_SOURCE="redis", REDIS_URL=redis_url, REDIS_KEY_PREFIX=prefix, **values)
        client = redis.Redis.from_url(redis_url)
        keys = list(client.scan_iter(f"{prefix}:*"))
        if keys:
            client.delete(*keys)
        client.close()
    else:
        yield make_settings(**values)


def test_outbox_retries_and_hands_over_a_dead_senders_claim(outbox_settings):
    settings = outbox_settings
    with Receiver(statuses=[503]) as rx:
        record = {"id": "j1", "status": "done", "output": "/x/j1.mp4"}
        job_ended(settings, record, {"callback_url": rx.url})
        first = Deliverer(settings)
        assert first.deliver_due() == 0                 # 503: kept for a retry
        assert [p["attempts"] for p in first.outbox.pending()] == [1]
        wait_for(lambda: list(open_outbox(settings, lease=0.3).claim_due()), what="a due retry")
        # the claim above was never finished, as if its process died; once its lease is
        # over, a fresh process (another outbox) delivers it
        wait_for(lambda: Deliverer(settings, open_outbox(settings, lease=0.3)).deliver_due() == 1,
                 what="the delivery after the dead claim's lease")
        tries = rx.wait(2)
        assert rx.count() == 2
        assert open_outbox(settings).pending() == []
    assert [t["status"] for t in tries] == [503, 200]
    assert verify(tries[1], SECRET) == record
