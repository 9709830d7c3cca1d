"""parse_job as the tests call it: with the stock settings' providers unless a test names others.

jobmodel.spec.parse_job needs the picture and voice providers a job leaves out (the worker's
come from IMAGE_PROVIDER and TTS_PROVIDER through protovideo.pipeline.jobcheck.JobChecker);
these are the settings' defaults, read from the one declaration, not written here again.
"""
from __future__ import annotations

from typing import Any

from jobmodel.spec import Job
from jobmodel.spec import parse_job as _parse_job
from protovideo.runtime.settings import load_settings

STOCK = load_settings({}, read_files=False)
PROVIDERS = {"default_image_provider": STOCK.IMAGE_PROVIDER,
             "default_voice_provider": STOCK.TTS_PROVIDER}


def parse_job(data: Any, base_dir: Any = ".", asset_root: Any = None, **providers: str) -> Job:
    return _parse_job(data, base_dir, asset_root, **{**PROVIDERS, **providers})
