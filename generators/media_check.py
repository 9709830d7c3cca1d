"""Checking an asset by its bytes before it is used: is it what the job says it is?

`check_asset(path, kind, field)` looks at the file itself, never at its name:

- image: opened by PIL (only plain raster formats; no EPS/PDF, which would run
  Ghostscript), pixel count within `LIMITS.max_image_pixels` (decompression
  bombs are refused from the header, before decoding), then fully decoded so a
  truncated or corrupt picture is caught here and not halfway through a render;
- audio: ffmpeg finds an audio stream in an allowed container, the duration is
  within `LIMITS.max_audio_seconds`, and the stream decodes without errors;
- video: ffmpeg finds a video stream in an allowed container, resolution and
  duration are within `LIMITS.max_video_pixels` / `LIMITS.max_video_seconds`,
  and the stream decodes without errors.

ffmpeg is only ever run with an argument list, reading `file:<absolute path>`
with `-protocol_whitelist file`, and the container it detects must be a plain
media container (a playlist or concat script could make ffmpeg read other
files or the network). Any refusal raises JobFailed naming the field (and so
the scene) and the asset.
"""
from __future__ import annotations

import os
import re
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

from jobmodel.errors import JobFailed
from jobmodel.limits import LIMITS

IMAGE_FORMATS = ("PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF")
# ffmpeg demuxer names (a detected name like "mov,mp4,m4a,3gp,3g2,mj2" matches
# when any of its parts is listed)
AV_FORMATS = ("mov", "mp4", "m4a", "3gp", "matroska", "webm", "avi", "mpegts", "mp3",
              "wav", "ogg", "flac", "aac", "gif")
PROBE_TIMEOUT_S = 60.0
DECODE_TIMEOUT_S = 300.0


@dataclass(frozen=True)
class MediaInfo:
    kind: str
    format: str
    width: int = 0
    height: int = 0
    duration_s: float | None = None
    has_audio: bool = False
    has_video: bool = False


def scene_of(field: str | None) -> int | None:
    """`scenes[3].image` -> 3; None for job-level fields."""
    match = re.match(r"scenes\[(\d+)\]", field or "")
    return int(match.group(1)) if match else None


def _fail(message: str, path: Path, field: str | None, asset: str | None) -> JobFailed:
    shown = asset if asset is not None else path.name
    prefix = f"{field}: " if field else ""
    return JobFailed(f"{prefix}{message} (asset {shown!r:.200})", scene=scene_of(field),
                     asset=shown, field=field)


def check_asset(path: Path | str, kind: str, field: str | None = None,
                asset: str | None = None) -> MediaInfo:
    """Check the file at `path` holds a usable `kind` (image/audio/video) asset.

    Returns what was found; raises JobFailed naming `field` and `asset`.
    """
    file = Path(path)
    if not file.is_file():
        raise _fail("the file is missing", file, field, asset)
    if file.stat().st_size == 0:
        raise _fail("the file is empty", file, field, asset)
    key = (str(file), file.stat().st_size, file.stat().st_mtime_ns, kind)
    with _memo_lock:
        if key in _memo:
            return _memo[key]
    if kind == "image":
        info = _check_image(file, field, asset)
    elif kind in ("audio", "video"):
        info = _check_av(file, kind, field, asset)
    else:
        raise ValueError(f"unknown asset kind {kind!r}")
    with _memo_lock:
        if len(_memo) > 512:
            _memo.clear()
        _memo[key] = info
    return info


_memo: dict[tuple, MediaInfo] = {}
_memo_lock = threading.Lock()


# ---------------------------------------------------------------- pictures
def _check_image(file: Path, field: str | None, asset: str | None) -> MediaInfo:
    from PIL import Image, UnidentifiedImageError

    limit = LIMITS.max_image_pixels
    try:
        # the size comes from the header: checked before a single pixel is decoded
        # (no warnings.catch_warnings here: it is not thread-safe, scenes run in threads)
        with Image.open(file, formats=IMAGE_FORMATS) as img:
            width, height = img.size
            fmt = img.format or "?"
            if width * height > limit:
                raise _fail(f"the picture is {width}x{height} = {width * height} pixels; "
                            f"the limit is {limit} (decompression bomb?)", file, field, asset)
            img.verify()
            with Image.open(file, formats=IMAGE_FORMATS) as img:
                frames = getattr(img, "n_frames", 1)
                if frames > 1 and width * height * frames > limit:
                    raise _fail(f"the picture has {frames} frames of {width}x{height}; "
                                f"the limit is {limit} pixels in all", file, field, asset)
                img.load()
    except JobFailed:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _fail(f"the picture has more than {limit} pixels (decompression bomb?)",
                    file, field, asset) from None
    except UnidentifiedImageError:
        raise _fail("the file is not a picture PIL can read "
                    f"({', '.join(IMAGE_FORMATS)})", file, field, asset) from None
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError,
            MemoryError, AttributeError, KeyError, struct_error()) as exc:
        raise _fail(f"the picture is corrupt or truncated ({exc})", file, field, asset) from None
    if width < 1 or height < 1:
        raise _fail("the picture has no pixels", file, field, asset)
    return MediaInfo("image", fmt, width, height)


def struct_error():
    import struct
    return struct.error


# ---------------------------------------------------------------- audio and video
_DURATION = re.compile(r"Duration:\s*(\d+):(\d+):(\d+(?:\.\d+)?)")
_INPUT = re.compile(r"^Input #0, (.+?), from ", re.M)
_STREAM = re.compile(r"^\s*Stream #0:\d+.*?: (Video|Audio): (.*)$", re.M)
_SIZE = re.compile(r"(?<![0-9A-Za-z])(\d{1,6})x(\d{1,6})(?![0-9A-Za-z])")


def ffmpeg_exe() -> str:
    import imageio_ffmpeg
    return imageio_ffmpeg.get_ffmpeg_exe()


def _run(args: list[str], timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, timeout=timeout, check=False)


def probe(file: Path) -> tuple[str, str]:
    """(container name, ffmpeg's description) of a local file, reading nothing else."""
    args = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-protocol_whitelist", "file",
            "-i", "file:" + os.path.abspath(file)]
    result = _run(args, PROBE_TIMEOUT_S)
    text = result.stderr.decode("utf-8", "replace")
    match = _INPUT.search(text)
    return (match.group(1) if match else ""), text


def _check_av(file: Path, kind: str, field: str | None, asset: str | None) -> MediaInfo:
    what = "audio" if kind == "audio" else "video"
    try:
        container, text = probe(file)
    except subprocess.TimeoutExpired:
        raise _fail(f"ffmpeg could not read the {what} file within {PROBE_TIMEOUT_S:g} s",
                    file, field, asset) from None
    if not container:
        reason = _last_line(text, file)
        raise _fail(f"the file is not {what} ffmpeg can read ({reason})", file, field, asset)
    if not set(container.split(",")) & set(AV_FORMATS):
        raise _fail(f"the file is not {what} in an allowed container (ffmpeg sees '{container}'; "
                    "use mp4, mov, webm, mkv, avi, mp3, wav, ogg, flac or aac)", file, field, asset)
    streams = _STREAM.findall(text)
    videos = [desc for typ, desc in streams if typ == "Video" and "attached pic" not in desc]
    audios = [desc for typ, desc in streams if typ == "Audio"]
    match = _DURATION.search(text)
    duration = (int(match.group(1)) * 3600 + int(match.group(2)) * 60 + float(match.group(3))
                if match else None)
    width = height = 0
    if kind == "audio":
        if not audios:
            raise _fail("the file has no audio stream", file, field, asset)
        if duration is not None and duration > LIMITS.max_audio_seconds:
            raise _fail(f"the audio lasts {duration:g} s; the limit is "
                        f"{LIMITS.max_audio_seconds:g} s", file, field, asset)
    else:
        if not videos:
            raise _fail("the file has no video stream", file, field, asset)
        size = _SIZE.search(videos[0])
        if not size:
            raise _fail("the video stream has no frame size", file, field, asset)
        width, height = int(size.group(1)), int(size.group(2))
        if width < 1 or height < 1 or width * height > LIMITS.max_video_pixels:
            raise _fail(f"the video is {width}x{height}; the limit is "
                        f"{LIMITS.max_video_pixels} pixels", file, field, asset)
        if duration is not None and duration > LIMITS.max_video_seconds:
            raise _fail(f"the video lasts {duration:g} s; the limit is "
                        f"{LIMITS.max_video_seconds:g} s", file, field, asset)
    if duration is not None and duration <= 0:
        raise _fail(f"the {what} has no length", file, field, asset)
    # the container's duration speaks for the audio only in a file without pictures
    _decode(file, kind, duration if not videos else None, field, asset)
    return MediaInfo(kind, container, width, height, duration,
                     has_audio=bool(audios), has_video=bool(videos))


def _decode(file: Path, kind: str, duration: float | None, field: str | None,
            asset: str | None) -> None:
    """Decode the stream to nowhere: truncated or corrupt data shows up as errors,
    or (audio) as less sound than the file declares."""
    allowed = ",".join(AV_FORMATS)
    args = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-nostats", "-v", "warning", "-xerror",
            "-protocol_whitelist", "file", "-format_whitelist", allowed]
    if kind == "video":
        args += ["-skip_frame", "nokey"]  # key frames are enough to see a broken stream
    args += ["-i", "file:" + os.path.abspath(file)]
    args += ["-map", "0:a:0", "-vn"] if kind == "audio" else ["-map", "0:v:0", "-an"]
    args += ["-sn", "-dn", "-progress", "pipe:1", "-f", "null", "-"]
    what = "audio" if kind == "audio" else "video"
    try:
        result = subprocess.run(args, stdin=subprocess.DEVNULL, capture_output=True,
                                timeout=DECODE_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        raise _fail(f"decoding the {what} took longer than {DECODE_TIMEOUT_S:g} s",
                    file, field, asset) from None
    errors = result.stderr.decode("utf-8", "replace").strip()
    if result.returncode != 0 or _serious(errors):
        raise _fail(f"the {what} is corrupt or truncated ({_first_error(errors, file) or 'ffmpeg failed'})",
                    file, field, asset)
    times = re.findall(r"out_time_us=(\d+)", result.stdout.decode("ascii", "replace"))
    decoded = int(times[-1]) / 1e6 if times else None
    if kind == "audio" and duration and decoded is not None and \
            decoded < duration - max(0.5, 0.05 * duration):
        raise _fail(f"the audio is truncated: the file declares {duration:.2f} s but holds "
                    f"{decoded:.2f} s", file, field, asset)


def _serious(errors: str) -> bool:
    lines = [line for line in errors.splitlines() if line.strip()]
    return any(re.search(r"invalid|corrupt|truncat|error|incomplete|partial|"
                         r"moov atom not found|end of file|filesize and duration do not match",
                         line, re.I) for line in lines)


def _first_error(text: str, file: Path) -> str:
    for line in text.splitlines():
        if _serious(line):
            return _last_line(line, file)
    return _last_line(text, file)


def _last_line(text: str, file: Path) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    line = re.sub(r"^\[[^\]]*\]\s*", "", lines[-1] if lines else "")
    line = line.replace("file:" + os.path.abspath(file), file.name)
    return line.replace(os.path.abspath(file), file.name)[:200]
