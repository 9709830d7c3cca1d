"""Logging setup: LOG_FILE (rotating), LOG_LEVEL, LOG_FORMAT text/json, idempotent."""
from __future__ import annotations

import json
import logging

from performance_optimizer import PerformanceOptimizer
from protovideo.runtime import logs
from protovideo.runtime.logs import setup_logging
from protovideo.pipeline.memory_watch import MemoryWatch

from perf_helpers import STEP_LINE, fresh_process_state, perf_lines, thresholds  # noqa: F401 - fixture

HUGE = 10**7


def test_lines_reach_the_log_file_once_even_when_set_up_twice(make_settings, fresh_process_state):
    settings = make_settings()
    path = setup_logging(settings, console=False)
    assert path == settings.path("LOG_FILE")
    setup_logging(settings, console=False)
    logging.getLogger("protovideo.test").info("hello once")
    lines = [line for line in path.read_text().splitlines() if "hello once" in line]
    assert len(lines) == 1
    assert "INFO protovideo.test" in lines[0]


def test_a_new_log_file_replaces_the_old_handler(make_settings, tmp_path, fresh_process_state):
    first = make_settings()
    setup_logging(first, console=False)
    second = make_settings(LOG_FILE=str(tmp_path / "logs" / "other.log"))
    setup_logging(second, console=False)
    logging.getLogger("protovideo.test").warning("only in the second file")
    assert "only in the second" in second.path("LOG_FILE").read_text()
    assert "only in the second" not in first.path("LOG_FILE").read_text()


def test_log_level_warning_hides_info_but_keeps_perf_lines(make_settings, fresh_process_state):
    settings = make_settings(LOG_LEVEL="warning")
    setup_logging(settings, console=False)
    logging.getLogger("protovideo.test").info("chatty detail")
    logging.getLogger("protovideo.test").warning("something odd")
    optimizer = PerformanceOptimizer(None, 1, memory_watch=MemoryWatch(thresholds()))
    optimizer.start_performance_monitoring("job-quiet")
    optimizer.record_step("tts", 0.5, scene=0)
    text = settings.path("LOG_FILE").read_text()
    assert "chatty detail" not in text and "something odd" in text
    [line] = perf_lines(settings.path("LOG_FILE"))
    match = STEP_LINE.search(line)
    assert match and match["job"] == "job-quiet" and match["step"] == "tts"
    assert match["duration"] == "0.500" and match["scene"] == "0"


def test_json_format_gives_one_object_per_line_with_perf_fields(make_settings, fresh_process_state):
    settings = make_settings(LOG_FORMAT="json")
    setup_logging(settings, console=False)
    optimizer = PerformanceOptimizer(None, 1, memory_watch=MemoryWatch(thresholds()))
    optimizer.start_performance_monitoring("job-json")
    optimizer.record_step("encode", 1.25)
    logging.getLogger("protovideo.test").error("naïve 日本語 \"quoted\"", extra={"job": "job-json"})
    entries = [json.loads(line) for line in settings.path("LOG_FILE").read_text().splitlines()]
    perf = [e for e in entries if e["logger"] == "protovideo.perf"]
    assert len(perf) == 1
    assert perf[0]["message"].startswith("PERF job=job-json step=encode duration=1.250s rss_mb=")
    assert perf[0]["perf"]["step"] == "encode" and perf[0]["perf"]["duration"] == 1.25
    other = [e for e in entries if e["logger"] == "protovideo.test"]
    assert other[0]["message"] == "naïve 日本語 \"quoted\"" and other[0]["job"] == "job-json"
    assert other[0]["level"] == "error"


def test_log_file_rotates(make_settings, monkeypatch, fresh_process_state):
    monkeypatch.setattr(logs, "MAX_BYTES", 4000)
    settings = make_settings()
    setup_logging(settings, console=False)
    for i in range(200):
        logging.getLogger("protovideo.test").info("line %d %s", i, "x" * 50)
    path = settings.path("LOG_FILE")
    rotated = path.with_name(path.name + ".1")
    assert rotated.is_file()
    assert path.stat().st_size <= 4000 and rotated.stat().st_size <= 4000
    assert "line 199" in path.read_text()


def test_console_handler_goes_to_stderr(make_settings, capsys, fresh_process_state):
    settings = make_settings()
    setup_logging(settings, console=True)
    logging.getLogger("protovideo.test").warning("visible on the console")
    assert "visible on the console" in capsys.readouterr().err


HOSTILE = "/download/a\x00.mp4\r\nPERF forged line\x1b[2J \ud800 end"


def _log_hostile_lines():
    log = logging.getLogger("protovideo.test")
    log.warning("request path %s", HOSTILE)
    try:
        try:
            raise KeyError(HOSTILE)
        except KeyError as exc:
            raise ValueError(f"bad name {HOSTILE}") from exc
    except ValueError:
        log.exception("API GET %s failed", HOSTILE)
    optimizer = PerformanceOptimizer(None, 1, memory_watch=MemoryWatch(thresholds()))
    optimizer.start_performance_monitoring("job-after")
    optimizer.record_step("tts", 0.5, scene=0)


def test_request_text_in_a_text_log_is_escaped_and_grep_still_works(make_settings, fresh_process_state):
    import subprocess
    settings = make_settings(API_TOKEN="tok-in-log-9f1e")
    path = setup_logging(settings, console=False)
    _log_hostile_lines()
    raw = path.read_bytes()
    assert b"\x00" not in raw and b"\r" not in raw and b"\x1b" not in raw
    raw.decode("utf-8")                                            # no lone surrogate either
    assert not any(line.startswith(b"PERF forged") for line in raw.split(b"\n"))
    assert raw.count(b"\\x00.mp4\\r\\nPERF forged line\\x1b[2J \\ud800 end") >= 3   # message, both errors
    assert b"Traceback (most recent call last):\n" in raw          # tracebacks keep their own lines
    found = subprocess.run(["grep", "PERF", str(path)], capture_output=True, check=False)
    assert b"binary file" not in found.stdout + found.stderr
    assert b"job-after" in found.stdout


def test_request_text_in_a_json_log_stays_one_object_a_line(make_settings, fresh_process_state):
    settings = make_settings(LOG_FORMAT="json")
    path = setup_logging(settings, console=False)
    _log_hostile_lines()
    raw = path.read_bytes()
    assert b"\x00" not in raw and b"\r" not in raw
    entries = [json.loads(line) for line in raw.decode("utf-8").splitlines()]
    assert entries[0]["message"] == f"request path {HOSTILE}"      # the text itself, losslessly
    assert "PERF forged" in entries[1]["exception"]
