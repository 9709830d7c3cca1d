"""A failed or cancelled job's error in words, for people: `describe_error(record)`.

The failure record keeps the worker's error as it was (`record["error"]`: type, message,
field, scene, asset); that stays available (the dashboard's "technical details"). This is
the one place that turns it into {"summary", "detail"}: sentences naming the job's part in
words (the picture of scene 2, the background music), the cause in words (the server
refused the connection, the file is missing) and what to do, with no Python class names
and no library messages (`<urlopen error ...>`, `HTTPConnectionPool(...)`, `[Errno 111]`).
"""
from __future__ import annotations

import re

SCENE_PART = re.compile(r"^scenes\[(\d+)\](?:\.([A-Za-z_]+))?")
OVERLAY_PART = re.compile(r"^overlays\[(\d+)\]")
PART_WORDS = {"image": "the picture", "video": "the video clip", "narration": "the narration",
              "audio": "the sound", "music": "the music", "background_music": "the background music",
              "global_audio_prompt_url": "the reference voice", "voice": "the voice", "voice.name": "the voice", "text": "the title"}
# causes of a failed download, first match wins: (words in the message, the cause in words)
NETWORK_CAUSES = (
    (("connection refused",), "nothing answered at that address (the connection was refused)"),
    (("name or service not known", "nodename nor servname", "failed to resolve", "getaddrinfo",
      "name resolution", "no address associated"), "the server's name could not be found"),
    (("certificate", "ssl"), "a secure (HTTPS) connection could not be made"),
    (("timed out", "timeout", "took longer"), "the server did not answer in time"),
    (("network is unreachable", "no route to host"), "the network could not reach the server"),
    (("connection reset", "broke off", "remote end closed", "connection aborted"),
     "the connection was cut off before the file arrived"),
    (("larger than max_download_mb", "max_download_mb is"), "the file is larger than this worker accepts "
                                                             "(MAX_DOWNLOAD_MB)"),
    (("empty file",), "the server sent an empty file"),
    (("redirect",), "the address redirected too often or to nowhere"),
    (("resolves to", "allow_private_urls"), "this worker does not download from private or local "
                                            "addresses (ALLOW_PRIVATE_URLS is off)"),
    (("scheme",), "only http and https addresses can be downloaded"),
    (("user names or passwords",), "addresses with a user name or password are not allowed"),
)
HTTP_WORDS = {400: "the request was refused", 401: "it needs a sign-in", 403: "access is forbidden",
              404: "there is no such file", 410: "the file is gone", 429: "too many requests"}
FILE_CAUSES = (
    (("file is missing", "not a regular file", "no such file", "not found in"),
     "is missing: there is no file at that path"),
    (("file is empty",), "is an empty file"),
    (("outside the job's folder", "outside"), "lies outside the folders this worker reads from"),
    (("has no frames",), "has no frames"),
    (("cannot read", "damaged", "not a picture", "decode", "no audio stream", "no video stream",
      "not an allowed", "container", "too many pixels", "too large", "longer than"),
     "could not be used: it is not a readable file of the kind the job needs, or it is too large"),
)
# library text that is never shown: cut the message where any of it starts
RAW_MARKERS = re.compile(
    r"<urlopen error|HTTPS?ConnectionPool\(|\(Caused by|\[Errno\s*-?\d+\]|Traceback|<[\w.]+ object at 0x"
    r"|\b(?:[A-Z][a-z0-9]+)+(?:Error|Exception|Warning|Failed|Invalid|Timeout|Unavailable|Expired)\b:?"
    r"|\b(?:Max retries exceeded|ffmpeg version|Errno)\b")
ASSET_TAIL = re.compile(r"\s*\(asset .*\)\s*$", re.S)


def part_words(field: str | None) -> str:
    """`scenes[1].image` -> "the picture of scene 2"; a job-level field by its name."""
    field = field or ""
    match = SCENE_PART.match(field)
    if match:
        scene = f"scene {int(match.group(1)) + 1}"
        part = match.group(2)
        return f"{PART_WORDS.get(part, f'the {part!r} setting')} of {scene}" if part else scene
    match = OVERLAY_PART.match(field)
    if match:
        return f"the overlay picture {int(match.group(1)) + 1}"
    if field in PART_WORDS:
        return PART_WORDS[field]
    return f"the job's {field!r} setting" if field else "the job"


def plain(message: str, keep_field: bool = False) -> str:
    """Our own words of a message, without the library text after them (may be "")."""
    text = ASSET_TAIL.sub("", str(message or ""))
    cut = RAW_MARKERS.search(text)
    if cut:
        text = text[:cut.start()]
    if not keep_field:
        text = re.sub(r"^scenes\[\d+\](?:\.\w+)?:\s*", "", text.strip())
    return text.strip(" :;,-(\n\t")


def _sentence(text: str) -> str:
    text = text.strip()
    if not text:
        return ""
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def _at(text: str, field: str | None) -> str:
    """A message that starts with its JSON path, as a sentence that keeps the path as written."""
    return f"At {text.rstrip('.')}." if field and text.startswith(field) else _sentence(text)


def _first(causes, lowered: str) -> str | None:
    for words, cause in causes:
        if any(word in lowered for word in words):
            return cause
    return None


def _download(error: dict, lowered: str) -> dict:
    thing = part_words(error.get("field"))
    status = re.search(r"answered http (\d{3})", lowered)
    if status:
        code = int(status.group(1))
        cause = f"its server answered HTTP {code} ({HTTP_WORDS.get(code, 'a server error' if code >= 500 else 'refused')})"
    else:
        cause = _first(NETWORK_CAUSES, lowered) or "the download failed"
    asset = error.get("asset")
    where = f"The address is {str(asset)[:300]}. " if asset else _sentence(plain(error.get("message") or "")) + " "
    hint = "Retrying may help once the server answers." if error.get("type") == "TransientError" or \
        "answer in time" in cause or "cut off" in cause else "Check the address, then retry."
    return {"summary": _sentence(f"{thing} could not be downloaded: {cause}"), "detail": where + hint}


def _failure(error: dict, record: dict) -> dict:
    kind = str(error.get("type") or "")
    message = str(error.get("message") or "")
    lowered = message.lower()
    field = error.get("field")
    if kind == "JobInvalid" and field and "not found in" in lowered:
        return {"summary": _sentence(f"{part_words(field)} is missing: there is no file at that path"),
                "detail": _at(plain(message, keep_field=True), field) +
                " Upload it (Asset, on the right) or correct the path, then submit the job again."}
    if kind == "JobInvalid":
        return {"summary": "The job is not valid, so it was not rendered.",
                "detail": _at(plain(message, keep_field=True) or "the job does not follow the job format", field) +
                " Fix the job (Clone and edit) and submit it again."}
    if kind == "JobTimeout":
        return {"summary": "The job took longer than its time limit and was stopped.",
                "detail": _sentence(plain(message)) + " A shorter job, a lower quality or a larger "
                "JOB_TIMEOUT lets it finish."}
    if kind == "LeaseExpired":
        return {"summary": "The worker rendering this job stopped before finishing it, more than once.",
                "detail": _sentence(plain(message)) + " A worker that stops mid-job was often out of "
                "memory; see the worker log."}
    if kind == "QCFailed" or error.get("qc"):
        problems = [str(p.get("message") or "") for p in (error.get("qc") or {}).get("problems") or []
                    if isinstance(p, dict)]
        found = "; ".join(plain(p) for p in problems if plain(p)) or plain(message)
        return {"summary": "The finished video failed its quality check, so it was not published.",
                "detail": _sentence(found or "see the report")}
    if kind == "StoreUnavailable":
        return {"summary": "The video was rendered, but the output store did not answer, so it was not published.",
                "detail": _sentence(re.sub(r"[;,]?\s*last$", "", plain(message)) or "the store kept failing") +
                " The worker kept the "
                "finished files; Retry publishes them once the store answers (see OUTPUT_STORE)."}
    if kind == "PublishConflict":
        return {"summary": "The video was not published: the store already holds a different file under its name.",
                "detail": _sentence(f"the store says: {plain(message)}") + " A finished output is never replaced; give the job "
                "another id or output_filename."}
    if kind == "ProviderUnavailable":
        return {"summary": "This worker cannot render the job as asked: a voice, picture or device "
                           "it needs is not available here.",
                "detail": _sentence(plain(message) or "see the worker log")}
    if "cancelled" in lowered and "worker stopping" in lowered:
        return {"summary": "The job was stopped before it finished (its worker was stopping).",
                "detail": "Retry queues it again."}
    if any(word in lowered for word in ("download", "answered http", "redirect", "resolves to",
                                        "scheme", "url", "user names or passwords")) and field:
        return _download(error, lowered)
    cause = _first(FILE_CAUSES, lowered)
    if cause and field:
        asset = error.get("asset")
        return {"summary": _sentence(f"{part_words(field)} {cause}"),
                "detail": (f"The file named is {str(asset)[:300]}. " if asset else "") +
                "Upload it (Asset, on the right) or correct the path, then retry."}
    where = part_words(field) if field else (f"scene {int(error['scene']) + 1}"
                                             if isinstance(error.get("scene"), int) else "")
    own = plain(message)
    summary = f"Rendering {where} failed" if where else "Rendering failed"
    detail = _sentence(own) if own and len(own) > 3 else "The technical details below have the worker's " \
        "own message; the worker log has more."
    if kind == "TransientError":
        detail += " This looked like a passing problem; retrying may help."
    return {"summary": _sentence(summary), "detail": detail}


def describe_error(record: dict | None) -> dict | None:
    """{"summary", "detail"} for a failure or cancel record; None when the record has neither."""
    if not isinstance(record, dict):
        return None
    if record.get("status") == "cancelled":
        was = "while it was rendering" if record.get("was") == "started" else "before it started"
        return {"summary": f"Cancelled {was}; nothing was published.",
                "detail": "Retry queues it again as a new run."}
    error = record.get("error")
    if isinstance(error, str):
        error = {"message": error}
    if not isinstance(error, dict):
        return None
    return _failure(error, record)
