"""Metrics endpoint: Prometheus counters after a job, and the health answer."""
from __future__ import annotations

import requests
from prometheus_client.parser import text_string_to_metric_families

from performance_optimizer import PerformanceOptimizer
from protovideo.service.middleware import default_middleware as worker_middleware
from jobmodel.errors import JobInvalid, TransientError
from protovideo.pipeline.memory_watch import MemoryWatch, shared_watch
from protovideo.pipeline.metrics import Metrics, shared_metrics
from protovideo.service.middleware.metrics import MetricsMiddleware
from protovideo.service.middleware.memory import MemoryWatchMiddleware
from protovideo.service.metrics_server import start_metrics_server, stop_metrics_server

from perf_helpers import fake_job, free_port, fresh_process_state  # noqa: F401 - fixture

HUGE = 10**7


def samples(text: str) -> dict[tuple, float]:
    """{(sample name, sorted labels): value} from the Prometheus text format."""
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


class FakeSource:
    """A job source with the depth interface the metrics middleware reads."""

    def __init__(self, depths):
        self._depths = depths

    def depths(self):
        return dict(self._depths)


class WorkerLike:
    def __init__(self, source):
        self.source = source


def test_endpoint_serves_counters_after_a_job(make_settings, fresh_process_state):
    port = free_port()
    settings = make_settings(METRICS_PORT=port, MEMORY_WARNING_THRESHOLD=HUGE,
                             MEMORY_CRITICAL_THRESHOLD=HUGE)
    middleware = [m for m in worker_middleware(settings)
                  if isinstance(m, (MetricsMiddleware, MemoryWatchMiddleware))]
    worker = WorkerLike(FakeSource({"high": 1, "normal": 3}))
    for m in middleware:
        m.before_worker_boot(worker)
    try:
        assert all(m.can_claim(worker) for m in middleware)
        # one job that renders, one invalid, one transient failure
        for m in middleware:
            m.before_process_job(worker, "claimed-1")
        optimizer = PerformanceOptimizer(settings.path("CACHE_DIR"), 2)
        fake_job(optimizer, "job-metrics", scenes=2, pause=0.0)
        optimizer.finish_job(settings.path("REPORT_DIR"), {"cache_stats": {"hits": 2, "misses": 5}})
        for m in middleware:
            m.after_process_job(worker, "claimed-1", object())
        for name, error in (("claimed-2", JobInvalid("scenes[0].duration", "must be > 0")),
                            ("claimed-3", TransientError("download timed out"))):
            for m in middleware:
                m.before_process_job(worker, name)
            for m in middleware:
                m.after_job_failed(worker, name, error)

        response = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
        assert response.status_code == 200
        assert response.headers["Content-Type"].startswith("text/plain")
        got = samples(response.text)
        assert got[("protovideo_jobs_total", (("outcome", "done"),))] == 1
        assert got[("protovideo_jobs_total", (("outcome", "invalid"),))] == 1
        assert got[("protovideo_jobs_total", (("outcome", "transient"),))] == 1
        assert got[("protovideo_jobs_total", (("outcome", "failed"),))] == 0
        assert got[("protovideo_step_duration_seconds_count", (("step", "tts"),))] == 2
        assert got[("protovideo_step_duration_seconds_count", (("step", "encode"),))] == 1
        assert got[("protovideo_cache_hits_total", ())] == 2
        assert got[("protovideo_cache_misses_total", ())] == 5
        assert got[("protovideo_queue_depth", (("priority", "all"),))] == 4
        assert got[("protovideo_queue_depth", (("priority", "normal"),))] == 3
        assert got[("protovideo_jobs_in_progress", ())] == 0
        assert got[("protovideo_rss_mb", ())] > 5
        assert ("protovideo_gpu_memory_mb", ()) in got
        assert got[("protovideo_taking_jobs", ())] == 1

        health = requests.get(f"http://127.0.0.1:{port}/health", timeout=10)
        assert health.status_code == 200
        body = health.json()
        assert body["taking_jobs"] is True
        assert body["jobs"]["done"] == 1 and body["jobs"]["invalid"] == 1
        assert body["memory"]["level"] == "ok"
        assert requests.get(f"http://127.0.0.1:{port}/nope", timeout=10).status_code == 404
    finally:
        for m in middleware:
            m.after_worker_shutdown(worker)
    # the server went away with the worker
    try:
        requests.get(f"http://127.0.0.1:{port}/health", timeout=2)
        raise AssertionError("metrics endpoint still answering after shutdown")
    except requests.ConnectionError:
        pass


def test_health_says_not_taking_jobs_while_memory_is_critical(make_settings, fresh_process_state):
    server = start_metrics_server(port=0, host="127.0.0.1")
    watch = shared_watch(make_settings(MEMORY_WARNING_THRESHOLD=1, MEMORY_CRITICAL_THRESHOLD=1))
    watch.check()
    response = requests.get(f"{server.url}/health", timeout=10)
    assert response.status_code == 503
    assert response.json()["taking_jobs"] is False
    assert response.json()["memory"]["paused"] is True
    assert samples(requests.get(f"{server.url}/metrics", timeout=10).text)[
        ("protovideo_memory_paused", ())] == 1

    shared_watch(make_settings(MEMORY_WARNING_THRESHOLD=HUGE, MEMORY_CRITICAL_THRESHOLD=HUGE)).check()
    response = requests.get(f"{server.url}/health", timeout=10)
    assert response.status_code == 200 and response.json()["taking_jobs"] is True


def test_port_zero_in_settings_means_off(make_settings, fresh_process_state):
    assert start_metrics_server(make_settings(METRICS_PORT=0)) is None
    middleware = MetricsMiddleware(shared_metrics(), make_settings(METRICS_PORT=0))
    middleware.before_worker_boot(WorkerLike(None))
    assert middleware.server is None
    middleware.after_worker_shutdown(WorkerLike(None))


def test_start_is_idempotent(fresh_process_state):
    first = start_metrics_server(port=0, host="127.0.0.1")
    assert start_metrics_server(port=0, host="127.0.0.1") is first
    stop_metrics_server()
    stop_metrics_server()


def test_separate_metrics_instances_do_not_clash():
    a, b = Metrics(MemoryWatch(HUGE, HUGE)), Metrics(MemoryWatch(HUGE, HUGE))
    a.job_finished("done")
    assert samples(a.exposition().decode())[("protovideo_jobs_total", (("outcome", "done"),))] == 1
    assert samples(b.exposition().decode())[("protovideo_jobs_total", (("outcome", "done"),))] == 0
    b.set_queue_depth(7)
    assert samples(b.exposition().decode())[("protovideo_queue_depth", (("priority", "all"),))] == 7
