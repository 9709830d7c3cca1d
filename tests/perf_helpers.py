"""Helpers for the optimizer, memory watch, metrics and logging tests."""
from __future__ import annotations

import logging
import re
import socket
import time

import pytest

from protovideo.pipeline.memory_watch import MemoryConfig
from protovideo.runtime.logs import teardown_logging

STEP_LINE = re.compile(r"PERF job=(?P<job>\S+) step=(?P<step>\S+) duration=(?P<duration>\d+\.\d+)s "
                       r"rss_mb=(?P<rss>\d+\.\d+)(?: scene=(?P<scene>\d+))?")
TOTAL_LINE = re.compile(r"PERF job=(?P<job>\S+) total=(?P<total>\d+\.\d+)s "
                        r"peak_rss_mb=(?P<peak>\d+\.\d+) cache_hit_rate=(?P<rate>[01]\.\d+)")


HUGE = 10**7  # MB: far above any real RSS


def thresholds(warning: float = HUGE, critical: float = HUGE, gpu_warning: float = HUGE,
               gpu_critical: float = HUGE) -> MemoryConfig:
    """A memory watch's config, MB (HUGE: a line no test process crosses)."""
    return MemoryConfig(warning, critical, gpu_warning, gpu_critical)


@pytest.fixture
def fresh_process_state():
    """Logging as it was before the test: handlers the test set up removed after it."""
    root = logging.getLogger()
    level = root.level
    perf_level = logging.getLogger("protovideo.perf").level
    yield
    teardown_logging()
    root.setLevel(level)
    logging.getLogger("protovideo.perf").setLevel(perf_level)


def perf_lines(log_file) -> list[str]:
    return [line for line in log_file.read_text(encoding="utf-8").splitlines() if "PERF " in line]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def fake_job(optimizer, job_id: str, scenes: int = 3, fail_scene: int | None = None,
             pause: float = 0.01):
    """A small job shaped like the pipeline's: job-level steps around per-scene steps."""
    optimizer.start_performance_monitoring(job_id)
    with optimizer.monitor_performance("parse"):
        time.sleep(pause)

    def render_scene(index: int) -> str:
        with optimizer.monitor_performance("tts", scene=index):
            time.sleep(pause)
        with optimizer.monitor_performance("image", scene=index):
            blob = bytearray(256 * 1024)   # some real allocation to show up in RSS
            time.sleep(pause)
        if index == fail_scene:
            raise ValueError(f"picture for scene {index} is broken")
        with optimizer.monitor_performance("render_scene", scene=index):
            time.sleep(pause)
        return f"scene-{index}-{len(blob)}"

    results = optimizer.parallel_process_scenes(render_scene, range(scenes))
    with optimizer.monitor_performance("encode"):
        time.sleep(pause)
    return results
