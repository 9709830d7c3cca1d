"""The one job checker: the CLI, the job API and the worker admit jobs through it.

    checker = JobChecker(settings)
    job = checker.parse(data, base_dir)                   # a Job, or JobInvalid naming the field
    job = checker.parse(data, base_dir, callback=True)    # and its callback_url's host allowed (submit)
    job = checker.read(path)                              # a job file (`render`, `submit`)
    problems = checker.problems(data, base_dir)           # every problem ([] = valid): `validate`, the API
    problems = checker.file_problems(path)                # the same for a job file, reading it included

The settings give what a job leaves out: the picture and voice providers (IMAGE_PROVIDER,
TTS_PROVIDER), ASSET_ROOT (where relative paths of queued jobs resolve and may lie) and the
network policy for a callback_url (ALLOW_PRIVATE_URLS, generators.netpolicy). A template's
`{{name}}` placeholders are filled from its `variables` first (jobmodel/prepare.py); a stock
scene whose provider has no API key in these settings is a problem too (`problems`). Relative paths
resolve against `base_dir`: a job file's folder, else ASSET_ROOT (an empty ASSET_ROOT: the
current folder, and no folder beside the job's own).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from generators.netpolicy import url_refusal
from generators.plugins import load_all
from generators.stock import PROVIDERS as STOCK_PROVIDERS
from jobmodel.errors import JobInvalid
from jobmodel.jobfile import read_job_file
from jobmodel.prepare import prepare_job, prepared
from jobmodel.spec import TOP_FIELDS, Job, parse_job
from jobmodel.validate import validate_job

CALLBACK_NAMES = ("callback_url", *TOP_FIELDS["callback_url"])   # the names the job model accepts
STOCK_KEYS = {name: module.KEY_SETTING for name, module in STOCK_PROVIDERS.items()}   # PEXELS_API_KEY...


class JobChecker:
    def __init__(self, settings: Any):
        load_all()   # the plug-ins declare their names and fields to the job model (idempotent)
        self.base_dir = settings.path("ASSET_ROOT")   # the folder of jobs that come without one
        self.asset_root = self.base_dir if str(settings.ASSET_ROOT).strip() else None
        self.image_provider = settings.IMAGE_PROVIDER
        self.voice_provider = settings.TTS_PROVIDER
        self.allow_private = bool(settings.ALLOW_PRIVATE_URLS)
        self.settings = settings

    def _defaults(self, base_dir: Path | str | None) -> dict[str, Any]:
        return {"base_dir": base_dir or self.base_dir, "asset_root": self.asset_root,
                "default_image_provider": self.image_provider,
                "default_voice_provider": self.voice_provider}

    def parse(self, data: Any, base_dir: Path | str | None = None, *, callback: bool = False) -> Job:
        """The job, or JobInvalid naming the first bad field; with `callback`, a callback_url
        whose host the network policy refuses is a bad field too."""
        data = prepared(data)      # a template's variables filled in, the stock defaults given out
        job = parse_job(data, **self._defaults(base_dir))
        refused = self.callback_refusal(data) if callback else None
        if refused is not None:
            raise refused
        return job

    def read(self, path: Path | str, *, callback: bool = False) -> Job:
        """A job file, checked; its relative paths resolve against its folder."""
        file = Path(path)
        return self.parse(read_job_file(file), file.resolve().parent, callback=callback)

    def problems(self, data: Any, base_dir: Path | str | None = None) -> list[dict]:
        """[] for a valid job, else [{"field": JSON path, "message"}, ...], every problem in the
        order it appears, the callback_url's refused host among them."""
        data, early, go_on = prepare_job(data)
        found = [{"field": exc.field or "$", "message": exc.message} for exc in early]
        if not go_on:   # a template's missing values: the rest would only be knock-on errors
            return found
        seen = {p["field"] for p in found}
        found += [p for p in validate_job(data, **self._defaults(base_dir)) if p["field"] not in seen]
        seen = {p["field"] for p in found}
        found += [p for p in self.stock_problems(data) if p["field"] not in seen]
        if not any(p["field"] in CALLBACK_NAMES for p in found):
            refused = self.callback_refusal(data)
            if refused is not None:
                found.append({"field": refused.field, "message": refused.message})
        return found

    def stock_problems(self, data: Any) -> list[dict]:
        """A stock scene whose provider has no API key here (PEXELS_API_KEY, PIXABAY_API_KEY): the
        render would refuse it, so `validate` and the API say so first, naming the setting."""
        scenes = data.get("scenes") if isinstance(data, dict) else None
        found = []
        for index, scene in enumerate(scenes if isinstance(scenes, list) else []):
            stock = scene.get("stock") if isinstance(scene, dict) else None
            if stock is None:
                continue
            provider = stock.get("provider", "pexels") if isinstance(stock, dict) else "pexels"
            setting = STOCK_KEYS.get(provider)
            if setting and not str(getattr(self.settings, setting, "") or "").strip():
                found.append({"field": f"scenes[{index}].stock",
                              "message": f"stock provider {provider} needs an API key: set {setting}"})
        return found

    def file_problems(self, path: Path | str) -> list[dict]:
        """problems() of a job file, a file that cannot be read or decoded among them."""
        file = Path(path)
        try:
            data = read_job_file(file)
        except JobInvalid as exc:
            return [{"field": exc.field or "$", "message": exc.message}]
        return self.problems(data, file.resolve().parent)

    def callback_refusal(self, data: Any) -> JobInvalid | None:
        """JobInvalid naming the callback field when its host is refused, else None."""
        if not isinstance(data, dict):
            return None
        for name in CALLBACK_NAMES:
            url = data.get(name)
            if isinstance(url, str) and url.strip():
                why = url_refusal(url.strip(), self.allow_private)
                if why:
                    return JobInvalid(name, f"refused: {why}")
        return None
