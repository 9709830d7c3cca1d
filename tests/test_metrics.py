"""Metrics endpoint: Prometheus counters after a job, and the health answer."""
from __future__ import annotations

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from daemon_helpers import fake_make_context, fake_render, tiny_job
from performance_optimizer import PerformanceOptimizer
from protovideo.pipeline.memory_watch import MemoryWatch
from protovideo.pipeline.metrics import Metrics
from protovideo.pipeline.runtime import Runtime
from protovideo.service.metrics_server import MetricsServer, serve_metrics
from protovideo.service.middleware import Middleware, default_middleware
from protovideo.service.sources.spool import SpoolSource
from protovideo.service.worker import Worker

from perf_helpers import HUGE, fake_job, free_port, fresh_process_state, thresholds  # noqa: F401,F811


def samples(text: str) -> dict[tuple, float]:
    """{(sample name, sorted labels): value} from the Prometheus text format."""
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


class MetricsProbe(Middleware):
    """First in the worker's list: reads /metrics over HTTP as a job starts and, its
    after-hooks running last, once every other middleware has recorded the job's end."""

    def __init__(self, port: int):
        self.url = f"http://127.0.0.1:{port}/metrics"
        self.seen: dict[tuple[str, str], dict] = {}

    def _read(self, when: str, claimed) -> None:
        self.seen[(when, claimed.id)] = samples(requests.get(self.url, timeout=10).text)

    def before_process_job(self, worker, claimed):
        self._read("start", claimed)

    def after_process_job(self, worker, claimed, result):
        self._read("end", claimed)

    def after_job_failed(self, worker, claimed, error):
        self._read("end", claimed)


def daemon_settings(make_settings, port, **overrides):
    return make_settings(METRICS_PORT=port, MEMORY_WARNING_THRESHOLD=HUGE,
                         MEMORY_CRITICAL_THRESHOLD=HUGE, POLL_INTERVAL=0.05, **overrides)


def test_one_daemon_job_counts_once_in_the_job_duration(make_settings, fresh_process_state):
    """A real render through the real Worker, spool source and default middleware."""
    port = free_port()
    settings = daemon_settings(make_settings, port)
    source = SpoolSource(settings)
    source.submit({"id": "counted-once", "video": {"width": 270, "height": 480, "fps": 12},
                   "scenes": [{"duration": 1, "motion": "none"}]})
    probe = MetricsProbe(port)
    runtime = Runtime.create(settings)
    serve_metrics(runtime)   # as `run` does
    worker = Worker(runtime, source, middleware=[probe, *default_middleware(runtime)], once=True)
    try:
        assert worker.run(install_signals=False) == 0
    finally:
        runtime.close()
    assert source.status("counted-once")["state"] == "finished"
    got = probe.seen[("end", "counted-once")]
    assert got[("protovideo_job_duration_seconds_count", ())] == 1
    assert got[("protovideo_jobs_total", (("outcome", "done"),))] == 1
    assert got[("protovideo_jobs_in_progress", ())] == 0
    # the pipeline's own metric, written by the optimizer, is there too
    assert got[("protovideo_step_duration_seconds_count", (("step", "mux"),))] == 1


def render_with_steps(job, ctx, output_path=None):
    """The fake render, after a job's worth of optimizer steps and cache counts (into the
    runtime's metrics, as a real job's optimizer writes them)."""
    optimizer = PerformanceOptimizer(ctx.settings.path("CACHE_DIR"), 2,
                                     memory_watch=ctx.runtime.memory, metrics=ctx.runtime.metrics)
    fake_job(optimizer, job.id, scenes=len(job.scenes), pause=0.0)
    optimizer.finish_job(ctx.settings.path("REPORT_DIR"), {"cache_stats": {"hits": 2, "misses": 5}})
    return fake_render(job, ctx, output_path)


def test_endpoint_serves_counters_after_jobs(make_settings, fresh_process_state):
    port = free_port()
    settings = daemon_settings(make_settings, port, MAX_ATTEMPTS=1)
    source = SpoolSource(settings)
    source.submit(tiny_job("ok", scenes=2), priority="high")
    source.submit({"id": "bad", "scenes": [{"motion": "none"}]})        # invalid: no duration
    source.submit(tiny_job("transient-1"), priority="low")             # TransientError
    probe = MetricsProbe(port)
    runtime = Runtime.create(settings, render=render_with_steps, make_context=fake_make_context)
    serve_metrics(runtime)
    worker = Worker(runtime, source, middleware=[probe, *default_middleware(runtime)], once=True)
    server_seen: dict = {}

    class Health(Middleware):    # last in the list: its after-hook runs before metrics' end
        def after_job_failed(self, worker, claimed, error):
            if claimed.id == "transient-1":
                server_seen["during"] = samples(requests.get(probe.url, timeout=10).text)
                server_seen["health"] = requests.get(f"http://127.0.0.1:{port}/health", timeout=10)
                server_seen["nope"] = requests.get(f"http://127.0.0.1:{port}/nope", timeout=10)

    worker.middleware.append(Health())
    try:
        assert worker.run(install_signals=False) == 0
    finally:
        runtime.close()

    first = probe.seen[("start", "ok")]       # depth read at the scrape: "ok" is claimed by then
    assert first[("protovideo_queue_depth", (("priority", "high"),))] == 0
    assert first[("protovideo_queue_depth", (("priority", "normal"),))] == 1
    assert first[("protovideo_queue_depth", (("priority", "low"),))] == 1
    assert not [k for k in first if k[0] == "protovideo_queue_depth" and ("priority", "all") in k[1]]
    assert first[("protovideo_jobs_in_progress", ())] == 0   # the probe's hook ran before metrics'
    assert first[("protovideo_taking_jobs", ())] == 1
    during = server_seen["during"]   # the last job still running as far as metrics know
    assert during[("protovideo_jobs_in_progress", ())] == 1
    assert during[("protovideo_jobs_total", (("outcome", "transient"),))] == 0

    got = probe.seen[("end", "transient-1")]   # after the last job
    assert got[("protovideo_jobs_total", (("outcome", "done"),))] == 1
    assert got[("protovideo_jobs_total", (("outcome", "invalid"),))] == 1
    assert got[("protovideo_jobs_total", (("outcome", "transient"),))] == 1
    assert got[("protovideo_jobs_total", (("outcome", "failed"),))] == 0
    assert got[("protovideo_jobs_total", (("outcome", "cancelled"),))] == 0
    assert got[("protovideo_job_duration_seconds_count", ())] == 3
    assert got[("protovideo_step_duration_seconds_count", (("step", "tts"),))] == 3   # 2 + 1 scenes
    assert got[("protovideo_step_duration_seconds_count", (("step", "encode"),))] == 2
    assert got[("protovideo_cache_hits_total", ())] == 4
    assert got[("protovideo_cache_misses_total", ())] == 10
    assert sum(v for k, v in got.items() if k[0] == "protovideo_queue_depth") == 0
    assert got[("protovideo_jobs_in_progress", ())] == 0
    assert got[("protovideo_rss_bytes", ())] > 5 * 2**20
    assert not [k for k in got if k[0] in ("protovideo_rss_mb", "protovideo_gpu_memory_mb")]   # renamed

    health = server_seen["health"]
    assert health.status_code == 200
    body = health.json()
    assert body["taking_jobs"] is True
    assert body["jobs"]["done"] == 1 and body["jobs"]["invalid"] == 1
    assert body["memory"]["level"] == "ok"
    assert server_seen["nope"].status_code == 404
    # the server went away with the runtime
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{port}/health", timeout=2)


def test_health_says_not_taking_jobs_while_memory_is_critical():
    rss = {"mb": 500.0}
    watch = MemoryWatch(thresholds(100, 200), rss_fn=lambda: rss["mb"])
    server = MetricsServer(Metrics(watch), 0, "127.0.0.1")   # port 0: a free one
    try:
        watch.check()
        response = requests.get(f"{server.url}/health", timeout=10)
        assert response.status_code == 503
        assert response.json()["taking_jobs"] is False
        assert response.json()["memory"]["paused"] is True
        assert samples(requests.get(f"{server.url}/metrics", timeout=10).text)[
            ("protovideo_memory_paused", ())] == 1

        rss["mb"] = 50.0
        watch.check()
        response = requests.get(f"{server.url}/health", timeout=10)
        assert response.status_code == 200 and response.json()["taking_jobs"] is True
    finally:
        server.stop()


def test_port_zero_in_settings_means_off(make_settings):
    runtime = Runtime.create(make_settings(METRICS_PORT=0))
    assert serve_metrics(runtime) is None and runtime.metrics_server is None
    runtime.close()


def test_served_once_per_runtime_and_stopped_with_it(make_settings):
    """The endpoint has one start (serve_metrics, by the entry point) and one stop (the
    runtime's close); the middleware neither starts nor stops it."""
    port = free_port()
    runtime = Runtime.create(make_settings(METRICS_PORT=port))
    first = serve_metrics(runtime)
    assert serve_metrics(runtime) is first and first.port == port
    worker = Worker(runtime, SpoolSource(runtime.settings), middleware=default_middleware(runtime))
    for m in worker.middleware:
        m.before_worker_boot(worker)
        m.after_worker_shutdown(worker)
    assert requests.get(f"http://127.0.0.1:{port}/metrics", timeout=10).status_code == 200
    runtime.close()
    runtime.close()
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{port}/metrics", timeout=2)


def test_separate_metrics_instances_do_not_clash():
    a, b = Metrics(MemoryWatch(thresholds())), Metrics(MemoryWatch(thresholds()))
    a.job_finished("done")
    assert samples(a.exposition().decode())[("protovideo_jobs_total", (("outcome", "done"),))] == 1
    assert samples(b.exposition().decode())[("protovideo_jobs_total", (("outcome", "done"),))] == 0
    b.watch_queue(FixedQueue({"critical": 0, "high": 2, "normal": 5, "low": 0}))
    got = samples(b.exposition().decode())
    assert got[("protovideo_queue_depth", (("priority", "normal"),))] == 5
    assert sum(v for k, v in got.items() if k[0] == "protovideo_queue_depth") == 7
    assert not [k for k in samples(a.exposition().decode()) if k[0] == "protovideo_queue_depth"]


class FixedQueue:
    def __init__(self, queued):
        self.queued = queued

    def status(self):
        return {"queued": dict(self.queued), "queued_total": sum(self.queued.values())}


def test_gpu_memory_is_a_series_only_where_a_gpu_is():
    without = Metrics(MemoryWatch(thresholds(), gpu_fn=lambda: None))   # no CUDA in this process
    assert "protovideo_gpu_memory" not in without.exposition().decode()
    with_gpu = Metrics(MemoryWatch(thresholds(), gpu_fn=lambda: 512.0))  # torch reserved 512 MB
    assert samples(with_gpu.exposition().decode())[("protovideo_gpu_memory_bytes", ())] == 512 * 2**20


def test_the_job_api_serves_metrics_in_base_units_with_no_aggregate_label(make_settings):
    """/metrics on the job API, scraped over HTTP as Prometheus would and parsed with
    prometheus_client's parser: base units (bytes, seconds), counters as _total, queue depth by
    priority only (its sum is the queue), no GPU series on a machine without one."""
    import threading

    import psutil

    from protovideo.pipeline.memory_watch import torch_gpu_mb
    from protovideo.service.api.server import make_server
    token = "metrics-scrape-token"
    port = free_port()
    settings = make_settings(API_PORT=port, API_TOKEN=token)
    source = SpoolSource(settings)
    for i, priority in enumerate(("high", "normal", "normal", "low")):
        source.submit({"id": f"q{i}", "priority": priority, "scenes": [{"duration": 1, "motion": "none"}]})
    runtime = Runtime.create(settings).install()
    server = make_server(settings, "test", store=source)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}/metrics"
    try:
        for _ in range(600):
            if server.started:
                break
            thread.join(0.05)
        assert requests.get(url, timeout=10).status_code == 401            # behind the token
        answer = requests.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=10)
        open_metrics = requests.get(url, timeout=10, headers={
            "Authorization": f"Bearer {token}", "Accept": "application/openmetrics-text; version=1.0.0"})
    finally:
        server.should_exit = True
        thread.join(10)
        runtime.close()
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
    # prometheus-client's own exposition: it also speaks OpenMetrics when asked
    assert open_metrics.headers["content-type"].startswith("application/openmetrics-text")
    assert open_metrics.text.rstrip().endswith("# EOF")
    families = {f.name: f for f in text_string_to_metric_families(answer.text)}
    ours = {name: f for name, f in families.items() if name.startswith("protovideo_")}
    assert {"protovideo_jobs", "protovideo_job_duration_seconds", "protovideo_step_duration_seconds",
            "protovideo_rss_bytes", "protovideo_queue_depth", "protovideo_jobs_in_progress"} <= set(ours)
    for name, family in ours.items():
        assert not name.endswith(("_mb", "_ms", "_kb")), name                # base units only
        if family.type == "counter":
            assert all(s.name.endswith(("_total", "_created")) for s in family.samples), name
        if family.type == "histogram":
            assert name.endswith("_seconds"), name
        if family.type == "gauge" and ("memory" in name or "rss" in name) and name != "protovideo_memory_paused":
            assert name.endswith("_bytes"), name
        assert not any("all" in s.labels.values() for s in family.samples), name   # no aggregate label
    depth = {s.labels["priority"]: s.value for s in ours["protovideo_queue_depth"].samples}
    assert set(depth) <= {"critical", "high", "normal", "low"}
    assert sum(depth.values()) == source.status()["queued_total"] == 4 and depth["normal"] == 2
    rss = ours["protovideo_rss_bytes"].samples[0].value
    assert 0.5 < rss / psutil.Process().memory_info().rss < 2.0            # bytes, not megabytes
    if torch_gpu_mb() is None:                                              # no GPU here
        assert "protovideo_gpu_memory_bytes" not in ours and "protovideo_gpu_memory_mb" not in families
