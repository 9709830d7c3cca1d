"""Through the real Worker: memory over the critical line pauses claiming; under the warning
line claiming resumes.

The job is a real tiny render (pipeline, Piper, ffmpeg); the metrics endpoint
follows along: not taking jobs while paused, the job counted once it is done.
"""
from __future__ import annotations

import json
import threading
import time

import requests

from protovideo.pipeline.memory_watch import MemoryConfig, MemoryWatch
from protovideo.pipeline.runtime import Runtime
from protovideo.runtime.logs import setup_logging
from protovideo.service.metrics_server import serve_metrics
from protovideo.service.middleware import Middleware
from protovideo.service.sources.spool import SpoolSource
from protovideo.service.middleware import default_middleware
from protovideo.service.worker import Worker

from perf_helpers import free_port, fresh_process_state, perf_lines  # noqa: F401 - fixture


class CountClaimChecks(Middleware):
    def __init__(self):
        self.checks = 0

    def can_claim(self, worker):
        self.checks += 1
        return True


def wait_for(condition, what, timeout=120.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_worker_pauses_claiming_while_memory_is_critical_and_recovers(make_settings,
                                                                      fresh_process_state):
    port = free_port()
    settings = make_settings(MEMORY_WARNING_THRESHOLD=100, MEMORY_CRITICAL_THRESHOLD=200,
                             POLL_INTERVAL=0.05, METRICS_PORT=port)
    rss = {"mb": 250.0}    # what the watch measures: over the critical line
    runtime = Runtime.create(settings, memory=MemoryWatch(MemoryConfig.from_settings(settings),
                                                          rss_fn=lambda: rss["mb"]))
    setup_logging(settings, console=False)   # as `run` does
    serve_metrics(runtime)                   # as `run` does
    source = SpoolSource(settings, worker_name="test-memory")
    source.submit({"id": "waits", "video": {"width": 160, "height": 284, "fps": 12},
                   "scenes": [{"duration": 1, "text": {"content": "One"}},
                              {"duration": 1, "text": {"content": "Two"}}]})
    counter = CountClaimChecks()
    worker = Worker(runtime, source, middleware=default_middleware(runtime) + [counter],
                    name="test-memory")
    thread = threading.Thread(target=worker.run, kwargs={"install_signals": False}, daemon=True)
    thread.start()
    try:
        wait_for(lambda: counter.checks >= 10, "the worker to poll a few times")
        assert source.status("waits")["state"] == "queued"    # never claimed while critical
        health = requests.get(f"http://127.0.0.1:{port}/health", timeout=10)
        assert health.status_code == 503 and health.json()["taking_jobs"] is False
        assert health.json()["memory"]["level"] == "critical"

        rss["mb"] = 50.0   # memory drops under the warning line
        wait_for(lambda: source.status("waits")["state"] == "finished", "the job to finish")
        record = source.status("waits")["record"]
        assert record["status"] == "done"
        report = json.loads(open(record["report"]).read())
        assert [s["index"] for s in report["scenes"]] == [0, 1]
        lines = perf_lines(settings.path("LOG_FILE"))
        assert sum("PERF job=waits step=render_scene " in line for line in lines) == 2
        assert sum("PERF job=waits total=" in line for line in lines) == 1

        health = requests.get(f"http://127.0.0.1:{port}/health", timeout=10)
        assert health.status_code == 200 and health.json()["taking_jobs"] is True
        metrics = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
        assert 'protovideo_jobs_total{outcome="done"} 1.0' in metrics
        assert 'protovideo_step_duration_seconds_count{step="render_scene"} 2.0' in metrics
    finally:
        worker.request_stop()
        thread.join(timeout=60)
        runtime.close()
    assert not thread.is_alive()
    assert worker.counts["done"] == 1
