"""The one job checker: the CLI, the job API and the worker admit jobs through it.

    checker = JobChecker(settings)
    job = checker.parse(data, base_dir)                   # a Job, or JobInvalid naming the field
    job = checker.parse(data, base_dir, callback=True)    # and its callback_url's host allowed (submit)
    job = checker.read(path)                              # a job file (`render`, `submit`)
    problems = checker.problems(data, base_dir)           # every problem ([] = valid): `validate`, the API
    problems = checker.file_problems(path)                # the same for a job file, reading it included

`problems` reports everything that rendering would refuse before any work, each once: the job
model's checks (jobmodel.validate), then on the job as read: text that no installed font can
draw (generators.glyphs), local files that are not what their field says by their bytes
(generators.media_check: an .m4a given as an image), URLs whose host the address policy refuses
(generators.netpolicy: loopback, private, link-local...), voices that are not installed and
cannot be downloaded (generators.tts), stock scenes whose provider has no API key here
(PEXELS_API_KEY, PIXABAY_API_KEY: generators/stock), and the callback_url's host. A template's
`{{name}}` placeholders are filled from its `variables` by the job model first (jobmodel/prepare.py).

The settings give what a job leaves out: the picture and voice providers (IMAGE_PROVIDER,
TTS_PROVIDER), ASSET_ROOT (where relative paths of queued jobs resolve and may lie) and the
network policy for a callback_url (ALLOW_PRIVATE_URLS, generators.netpolicy). Relative paths
resolve against `base_dir`: a job file's folder, else ASSET_ROOT (an empty ASSET_ROOT: the
current folder, and no folder beside the job's own).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from generators.glyphs import drawn_texts, require_font
from generators.media_check import check_asset
from generators.netpolicy import url_refusal
from generators.plugins import load_all
from generators.stock import PROVIDERS as STOCK_PROVIDERS
from generators.tts import voice_problems
from jobmodel.errors import JobFailed, JobInvalid
from jobmodel.jobfile import read_job_file
from jobmodel.refs import AssetRef
from jobmodel.templates import expand_job
from jobmodel.spec import TOP_FIELDS, Job, parse_job
from jobmodel.validate import check_job

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
        order it appears, at most one a field (see the module's docstring for what is checked)."""
        found, job = check_job(data, **self._defaults(base_dir))
        if job is not None:
            found += self.render_problems(job)
        if not any(p["field"] in CALLBACK_NAMES for p in found):
            refused = self.callback_refusal(data)
            if refused is not None:
                found.append({"field": refused.field, "message": refused.message})
        seen: set[str] = set()
        return [p for p in found if not (p["field"] in seen or seen.add(p["field"]))]

    def render_problems(self, job: Job) -> list[dict]:
        """What rendering would refuse in a job the job model took: fonts, files by their bytes,
        URLs under the address policy, voices, stock providers without their API key."""
        found = []
        for text, field in drawn_texts(job):
            try:
                require_font(text, field)
            except JobInvalid as exc:
                found.append(exc)
        for ref in job_assets(job):
            refused = self.asset_refusal(ref)
            if refused is not None:
                found.append(refused)
        found += voice_problems(job, self.settings)
        found += self.stock_problems(job)
        return [{"field": exc.field or "$", "message": _without_field(exc)} for exc in found]

    def stock_problems(self, job: Job) -> list[JobInvalid]:
        """A stock scene whose provider has no API key in these settings: the render would refuse it."""
        found = []
        for scene in job.scenes:
            stock = scene.param("stock")
            setting = STOCK_KEYS.get(getattr(stock, "provider", ""))
            if stock is not None and setting and not str(getattr(self.settings, setting, "") or "").strip():
                found.append(JobInvalid(f"{scene.path}.stock",
                                        f"stock provider {stock.provider} needs an API key: set {setting}"))
        return found

    def asset_refusal(self, ref: AssetRef) -> JobInvalid | JobFailed | None:
        """A URL whose host the address policy refuses, or a local file that is not what its field
        takes (checked by its bytes); None when rendering would take it as far as can be told now."""
        if ref.is_url:
            why = url_refusal(ref.url, self.allow_private)
            return JobInvalid(ref.field, f"refused: {why}") if why else None
        try:
            check_asset(ref.path, ref.kind, ref.field, asset=ref.value)
        except JobFailed as exc:
            return exc
        return None

    def file_problems(self, path: Path | str) -> list[dict]:
        """problems() of a job file, a file that cannot be read or decoded among them."""
        file = Path(path)
        try:
            data = read_job_file(file)
        except JobInvalid as exc:
            return [{"field": exc.field or "$", "message": exc.message}]
        return self.problems(data, file.resolve().parent)

    def callback_refusal(self, data: Any) -> JobInvalid | None:
        """JobInvalid naming the callback field when its host is refused, else None (a template's
        URL with its placeholders filled in)."""
        if not isinstance(data, dict):
            return None
        data = expand_job(data)[0]
        for name in CALLBACK_NAMES:
            url = data.get(name)
            if isinstance(url, str) and url.strip():
                why = url_refusal(url.strip(), self.allow_private)
                if why:
                    return JobInvalid(name, f"refused: {why}")
        return None


def job_assets(job: Job) -> list[AssetRef]:
    """Every asset a job names: the job's, each scene's and each plug-in field's (overlays, kinds)."""
    refs = [job.music, job.global_audio_prompt if job.voice.provider == "chatterbox" else None]
    for scene in job.scenes:
        refs += [scene.image, scene.video, scene.narration, scene.music]
        refs += [value for _name, value in scene.params]
    for item in job.overlays:
        refs += [value for _name, value in item.params]
    return [ref for ref in refs if isinstance(ref, AssetRef)]


def _without_field(exc: Exception) -> str:
    """The message of a refusal without the field in front (the problem names it apart)."""
    field = getattr(exc, "field", "") or ""
    message = getattr(exc, "message", None) or str(exc)
    return message[len(field) + 2:] if field and message.startswith(f"{field}: ") else message
