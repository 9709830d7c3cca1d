"""The sources' side of running a queue, spool and Redis alike: workers' presence (the
WorkerPresence middleware beating while a real Worker runs), retry of failed and cancelled
jobs (same id, same job, the submitter's folder kept), and titles in list summaries."""
from __future__ import annotations

import os
import socket
import uuid

import pytest
import redis

from daemon_helpers import fake_make_context, fake_render, tiny_job
from protovideo.service.middleware.presence import WorkerPresence
from protovideo.service.sources import JobNotRetryable, JobState, open_source
from protovideo.service.worker import Worker


@pytest.fixture(params=["spool", "redis"])
def settings(request, make_settings):
    if request.param == "spool":
        yield make_settings(POLL_INTERVAL=0.05, MAX_ATTEMPTS=1)
        return
    url = request.getfixturevalue("redis_url")
    prefix = f"pvtest-{uuid.uuid4().hex[:10]}"
    yield make_settings(JOB_SOURCE="redis", REDIS_URL=url, REDIS_KEY_PREFIX=prefix, POLL_INTERVAL=0.05,
                        MAX_ATTEMPTS=1)
    client = redis.Redis.from_url(url)
    keys = list(client.scan_iter(f"{prefix}:*"))
    if keys:
        client.delete(*keys)
    client.close()


def run_once(settings, render=fake_render, middleware=()):
    source = open_source(settings, worker_name="w-test")
    worker = Worker(settings, source, render=render, make_context=fake_make_context, once=True,
                    middleware=list(middleware))
    worker.run(install_signals=False)
    return worker


def test_a_running_worker_is_listed_with_its_job_and_leaves_on_shutdown(settings):
    store = open_source(settings, worker_name="api")
    store.submit(tiny_job("seen-1"))
    during = []

    def render(job, ctx, output_path=None):
        presence.beat(worker_view)   # what the beat thread sends, now (no waiting on its period)
        during.append(store.workers(60))
        return fake_render(job, ctx, output_path)

    presence = WorkerPresence(beat_s=0.05)
    source = open_source(settings, worker_name="w-test")
    worker = worker_view = Worker(settings, source, render=render, make_context=fake_make_context, once=True,
                                  middleware=[presence])
    worker.run(install_signals=False)
    listed = during[0]
    assert [w["name"] for w in listed] == ["w-test"], listed
    assert listed[0]["host"] == socket.gethostname() and listed[0]["pid"] == os.getpid()
    assert listed[0]["current_job"] == "seen-1" and listed[0]["state"] == "busy"
    assert listed[0]["age_s"] < 30 and listed[0]["last_heartbeat"]
    assert store.workers(60) == []   # gone on shutdown

    store.worker_seen("old-one", {"host": "elsewhere", "jobs": []})
    assert [w["name"] for w in store.workers(60)] == ["old-one"]
    assert store.workers(-1) == []   # seen longer ago than asked for


def test_retry_queues_the_same_job_again(settings, tmp_path):
    store = open_source(settings, worker_name="api")
    folder = tmp_path / "job-folder"
    folder.mkdir()
    job = tiny_job("boom-again")
    job["scenes"][0]["text"] = {"content": "Try me twice"}
    store.submit(job, priority="high", base_dir=folder)
    run_once(settings)
    failed = store.get("boom-again")
    assert failed.state is JobState.FAILED and failed.title == "Try me twice"
    info = store.retry("boom-again")
    assert info.state is JobState.QUEUED and info.priority == "high"
    assert store.get("boom-again", with_job=True).job["scenes"] == job["scenes"]
    with pytest.raises(JobNotRetryable):
        store.retry("boom-again")   # queued now

    run_once(settings)   # it runs again ('boom' ids always fail in the fake render)
    again = store.get("boom-again")
    assert again.state is JobState.FAILED and again.attempts == 1
    assert again.record["base_dir"] == str(folder.resolve())   # the submitter's folder, kept by the retry

    store.submit(tiny_job("fine-1"))
    run_once(settings)
    with pytest.raises(JobNotRetryable, match="finished"):
        store.retry("fine-1")


def test_lists_carry_titles(settings):
    store = open_source(settings, worker_name="api")
    job = tiny_job("titled")
    job["scenes"][0]["text"] = {"content": "Harbour at dawn"}
    store.submit(job)
    listed, _ = store.list_jobs()
    assert [(i.id, i.title) for i in listed] == [("titled", "Harbour at dawn")]
    assert listed[0].job is None   # summaries only
    run_once(settings)
    listed, _ = store.list_jobs()
    assert listed[0].state is JobState.FINISHED and listed[0].title == "Harbour at dawn"
