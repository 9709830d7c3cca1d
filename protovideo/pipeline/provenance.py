"""Provenance: `<name>.manifest.json` beside every video, and (with C2PA_CERT and C2PA_KEY) signed
Content Credentials inside the MP4 (generators/credentials.py).

The manifest lists each input file (URL or path as the job gave it, sha256, licence and author
where known: a stock photo or clip's author, page URL and licence), each generated picture
(provider, model, seed), each model and voice (name, file hash or revision, device), the fonts that drew the text (name, licence), the worker's version,
the job's hash and the settings that shaped the output (never a secret: a fixed list of names).
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import threading
from datetime import datetime, timezone
from pathlib import Path

from generators.credentials import ALGORITHMIC, TRAINED, Part, read_signer, sign_mp4
from generators.glyphs import SHIPPED_FONT, font_runs
from jobmodel.files import write_atomic
from jobmodel.spec import Job

MANIFEST_VERSION = 1
# settings that change what comes out (none of them secret)
SHAPING = ("TTS_PROVIDER", "TTS_DEVICE", "IMAGE_PROVIDER", "IMAGE_DEVICE", "DIFFUSERS_MODEL",
           "OPENAI_IMAGE_MODEL", "CHATTERBOX_MODEL_DIR", "PIPER_VOICE", "LOUDNESS_TARGET", "QC")


def manifest_path(output: Path) -> Path:
    return output.with_name(output.stem + ".manifest.json")


def sha256_file(path: Path) -> str:
    stat = Path(path).stat()
    return _sha256(str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=256)
def _sha256(path: str, _size: int, _mtime_ns: int) -> str:
    """Remembered by path, size and time (a voice model is 60 MB; hashed once per process)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def job_hash(job: Job) -> str:
    """sha256 of the parsed job (its folder left out: the same job gives the same hash anywhere)."""
    data = dataclasses.asdict(job)
    data.pop("base_dir", None)
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode("utf-8")).hexdigest()


def _refs(job: Job) -> list:
    refs = [job.music, job.global_audio_prompt]
    for scene in job.scenes:
        refs += [scene.image, scene.video, scene.narration, scene.music]
    return [r for r in refs if r is not None]


def _font_licence(path: str) -> str:
    name = Path(path).name
    if Path(path) == SHIPPED_FONT:
        return "DejaVu Fonts License (Bitstream Vera derivative; generators/fonts/DejaVu-LICENSE.txt)"
    if name.startswith("Noto"):
        return "SIL Open Font License 1.1"
    return "unknown (a font installed on this machine)"


def _texts(job: Job) -> list[str]:
    titles = [s.text.content for s in job.scenes if s.text is not None]
    captioned = [job.narration_text] if job.narration_text.strip() else [
        s.narration_text for s in job.scenes if s.subtitle and s.narration_text]
    if job.subtitles.uppercase:
        captioned = [t.upper() for t in captioned]
    return titles + captioned


def describe(job: Job, ctx, fetch, encoder: dict, loudness: dict) -> dict:
    """The manifest of `job` (without the video's own hash, added at publish), and its parts."""
    settings = ctx.settings
    inputs = []
    for ref in _refs(job):
        path = fetch(ref, ctx)   # already fetched for the render: the cached file
        inputs.append({"field": ref.field, "kind": ref.kind, "source": ref.url or ref.value,
                       "sha256": sha256_file(path), "bytes": path.stat().st_size})
    inputs += _stock_inputs(job, ctx, fetch)
    parts, pictures, models = [], [], []
    for scene in job.scenes:
        if scene.type != "image" or scene.image is not None or scene.index in getattr(ctx, "credits", {}):
            continue
        provider = job.image.provider if scene.image_prompt.strip() else "simple"
        entry = {"field": f"{scene.path}.promptImage", "provider": provider}
        if provider == "simple":
            parts.append(Part(f"{scene.path} picture", ALGORITHMIC, "a simple background (no model)"))
        else:
            model = job.image.model or (settings.DIFFUSERS_MODEL if provider == "diffusers"
                                        else settings.OPENAI_IMAGE_MODEL)
            entry.update(model=model, seed=job.image.seed + scene.index, steps=job.image.steps)
            parts.append(Part(f"{scene.path} picture", TRAINED, f"{provider} {model}"))
            models.append({"kind": "pictures", "provider": provider, "name": model,
                           "revision": _model_revision(model), "device": settings.IMAGE_DEVICE,
                           "seed": job.image.seed + scene.index})
        pictures.append(entry)
    voices = _voices(job, ctx, parts, models)
    fonts = sorted({font for text in _texts(job) for _run, font in font_runs(text)})
    return {
        "manifest_version": MANIFEST_VERSION,
        "worker": {"name": "protovideo", "version": _version()},
        "job": {"id": job.id, "sha256": job_hash(job)},
        "inputs": inputs, "generated_pictures": pictures, "models": _unique(models), "voices": voices,
        "fonts": [{"name": Path(f).stem, "file": Path(f).name, "licence": _font_licence(f)} for f in fonts],
        "settings": {**{name: getattr(settings, name) for name in SHAPING},
                     "video": dataclasses.asdict(job.video), "encoder": encoder, "loudness": loudness},
        "ai_generated": [{"part": p.what, "by": p.made_by, "digital_source_type": p.source_type}
                         for p in parts if p.ai],
        "_parts": parts,
    }


def _stock_inputs(job: Job, ctx, fetch) -> list[dict]:
    """Each stock photo or clip (generators/stock): its file's hash, author, page and licence."""
    from generators.stock import credit_ref
    inputs = []
    for _index, credit in sorted(getattr(ctx, "credits", {}).items()):
        path = fetch(credit_ref(credit), ctx)   # already fetched for the render: the cached file
        inputs.append({"field": credit["field"], "kind": "video" if credit["kind"] == "video" else "image",
                       "source": credit["url"], "sha256": sha256_file(path), "bytes": path.stat().st_size,
                       "licence": credit["licence"], "author": credit["author"],
                       "author_url": credit["author_url"], "page_url": credit["page_url"],
                       "stock": {"provider": credit["provider"], "id": credit["id"]}})
    return inputs


def _voices(job: Job, ctx, parts: list[Part], models: list[dict]) -> list[dict]:
    from generators.tts import get_tts_provider
    spread = bool(job.narration_text.strip())
    voices: dict[str, dict] = {}
    for scene in job.scenes:
        spoken = spread or (scene.narration is None and scene.narration_text.strip())
        if not spoken:
            continue
        voice = scene.voice or job.voice
        if voice.provider == "piper":
            path = get_tts_provider("piper", ctx.settings)._voice_file(voice.name)
            made_by = f"piper voice {path.name}"
            entry = voices.setdefault(str(path), {"provider": "piper", "name": voice.name or path.stem,
                                                  "file": path.name, "sha256": sha256_file(path), "scenes": []})
        else:
            model = ctx.settings.CHATTERBOX_MODEL_DIR or "chatterbox (from_pretrained)"
            made_by = f"chatterbox {model}"
            entry = voices.setdefault("chatterbox", {"provider": "chatterbox", "name": model, "scenes": []})
            models.append({"kind": "speech", "provider": "chatterbox", "name": model,
                           "revision": _model_revision(model), "device": ctx.settings.TTS_DEVICE})
        entry["scenes"].append(scene.index)
        parts.append(Part(f"{scene.path} narration", TRAINED, made_by))
    return list(voices.values())


def _model_revision(name: str) -> str | None:
    """A local model folder's model_index.json or config.json sha256; None for a hub id."""
    folder = Path(name).expanduser()
    for file in ("model_index.json", "config.json"):
        if (folder / file).is_file():
            return f"sha256:{sha256_file(folder / file)}"
    return None


def _unique(items: list[dict]) -> list[dict]:
    seen, out = set(), []
    for item in items:
        key = json.dumps({k: v for k, v in item.items() if k != "seed"}, sort_keys=True)
        if key not in seen:
            seen.add(key)
            out.append(item)
    return out


def _version() -> str:
    import protovideo
    return protovideo.__version__


def place_video(joined: Path, output: Path, manifest: dict, settings, copy) -> Path:
    """The joined file at `output`: signed (C2PA_CERT and C2PA_KEY set) through a hidden partial
    file and renamed, else copied (`copy`, atomically)."""
    if not settings.C2PA_CERT:
        manifest["content_credentials"] = {"signed": False}
        return copy(joined, output)
    signer = read_signer(settings.C2PA_CERT, settings.C2PA_KEY)
    partial = output.with_name(f".{output.stem}.{os.getpid()}-{threading.get_ident()}.signing{output.suffix}")
    output.parent.mkdir(parents=True, exist_ok=True)
    try:
        sign_mp4(joined, partial, signer, manifest["_parts"], output.name, _version())
        os.replace(partial, output)
    finally:
        partial.unlink(missing_ok=True)
    manifest["content_credentials"] = {"signed": True, "alg": signer.alg, "format": "C2PA in the MP4"}
    return output


def write_manifest(output: Path, manifest: dict, qc: dict | None) -> Path:
    """<name>.manifest.json beside the video (atomically), with the published file's hash."""
    record = {k: v for k, v in manifest.items() if not k.startswith("_")}
    record["video"] = {"file": output.name, "sha256": sha256_file(output), "bytes": output.stat().st_size,
                       "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    if qc is not None:
        record["qc"] = {"passed": qc.get("passed"), "problems": len(qc.get("problems") or [])}
    return write_atomic(manifest_path(output), json.dumps(record, indent=2, default=str))
