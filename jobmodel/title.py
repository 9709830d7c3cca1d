"""A job's title for lists (the dashboard, `list`): its first scene's title overlay, else its
output file name, else "". Read from raw job JSON, which may be anything; never raises. A
template's placeholders are filled from its variables first (a batch's jobs show their own titles)."""
from __future__ import annotations

from typing import Any

MAX_CHARS = 300


def job_title(data: Any) -> str:
    if not isinstance(data, dict):
        return ""
    if "variables" in data or "vars" in data:
        from jobmodel.templates import expand_job
        try:
            data = expand_job(data)[0]
        except Exception:   # noqa: BLE001 - a title never stops a listing
            pass
    scenes = data.get("scenes")
    first = scenes[0] if isinstance(scenes, list) and scenes else None
    text = first.get("text") if isinstance(first, dict) else None
    content = text.get("content") if isinstance(text, dict) else text   # or the "text": "Title" shorthand
    if isinstance(content, str) and content.strip():
        return content.strip()[:MAX_CHARS]
    name = data.get("output_filename")
    return name[:MAX_CHARS] if isinstance(name, str) else ""
