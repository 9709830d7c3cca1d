"""`video.platform`: each platform's defaults and its published upload limits.

A job that names a platform gets its size, frame rate, loudness and sound bitrate by default, and
is refused (naming the field) where it asks for more than the platform takes. Where the limits
come from (read 2026-12-01; docs/OUTPUTS.md has the same table):

- youtube: YouTube Help "Recommended upload encoding settings" (support.google.com/youtube/answer/1722171):
  MP4 without edit lists, moov first, AAC-LC 48 kHz, H.264 High, closed GOP, no bitrate limit; uploads
  up to 12 hours ("Upload videos longer than 15 minutes", verified accounts). No published loudness target: YouTube turns loud
  videos down to about -14 LUFS (measured by others; its "stats for nerds" shows the "content loudness").
- shorts: YouTube Help "Upload YouTube Shorts": square or vertical, up to 3 minutes (since 15 October 2024).
- tiktok: TikTok for Developers, Content Posting API "Media transfer guide", video restrictions:
  23-60 fps, each side 360-4096 pixels, at most 10 minutes (creators may be allowed less).
- reels: Instagram Platform, Graph API "IG User Media" reel specifications: MP4/MOV without edit lists,
  moov first, AAC at most 48 kHz and 128 kbit/s, H.264 closed GOP, 23-60 fps, at most 1920 columns,
  aspect 0.01:1 to 10:1 (9:16 recommended), video VBR at most 25 Mbit/s, 3 s to 15 minutes.
"""
from __future__ import annotations

from dataclasses import dataclass

from jobmodel.errors import JobInvalid
from jobmodel.problems import problem


@dataclass(frozen=True)
class Platform:
    name: str
    size: tuple[int, int]                  # default width, height
    fps: int = 30
    loudness: float = -14.0                # LUFS, the default target
    audio_bitrate: str = "192k"
    fps_range: tuple[int, int] = (1, 60)
    max_aspect: float | None = None        # width / height at most (shorts: square or taller)
    aspect_range: tuple[float, float] | None = None
    side_range: tuple[int, int] | None = None   # each side, pixels
    max_width: int | None = None
    max_video_kbps: int = 0                # 0: no published cap
    min_seconds: float = 0.0
    max_seconds: float = 12 * 3600.0


PLATFORMS = {
    "youtube": Platform("youtube", (1920, 1080)),
    "shorts": Platform("shorts", (1080, 1920), max_aspect=1.0, max_seconds=180.0),
    "tiktok": Platform("tiktok", (1080, 1920), fps_range=(23, 60), side_range=(360, 4096),
                       min_seconds=3.0, max_seconds=600.0),
    "reels": Platform("reels", (1080, 1920), audio_bitrate="128k", fps_range=(23, 60),
                      aspect_range=(0.01, 10.0), max_width=1920, max_video_kbps=25_000,
                      min_seconds=3.0, max_seconds=900.0),
}


def check_picture(platform: Platform, width: int, height: int, fps: int, at) -> None:
    """Report each way the size or frame rate breaks the platform's limits; `at(name)` is the
    JSON path of a field of `video`."""
    name = platform.name
    lo, hi = platform.fps_range
    if not lo <= fps <= hi:
        problem(JobInvalid(at("fps"), f"{fps} fps: {name} takes {lo} to {hi} fps"))
    aspect = width / height
    if platform.max_aspect is not None and aspect > platform.max_aspect + 1e-9:
        problem(JobInvalid(at("width"), f"{width}x{height} is wider than {name} takes "
                                        "(square or vertical)"))
    if platform.aspect_range and not platform.aspect_range[0] <= aspect <= platform.aspect_range[1]:
        problem(JobInvalid(at("width"), f"{width}x{height}: {name} takes aspect ratios from "
                                        f"{platform.aspect_range[0]:g}:1 to {platform.aspect_range[1]:g}:1"))
    if platform.side_range:
        smallest, largest = platform.side_range
        for side, value in (("width", width), ("height", height)):
            if not smallest <= value <= largest:
                problem(JobInvalid(at(side), f"{value} pixels: {name} takes "
                                             f"{smallest} to {largest} pixels a side"))
    if platform.max_width is not None and width > platform.max_width:
        problem(JobInvalid(at("width"), f"{width} pixels: {name} takes at most "
                                        f"{platform.max_width} columns"))


def check_length(platform: Platform, seconds: float, field: str = "video.platform") -> None:
    """Refuse a video shorter or longer than the platform takes (its length known)."""
    if seconds > platform.max_seconds:
        problem(JobInvalid(field, f"the video lasts {seconds:.1f} s; {platform.name} takes at most "
                                  f"{platform.max_seconds:g} s"))
    if seconds < platform.min_seconds:
        problem(JobInvalid(field, f"the video lasts {seconds:.1f} s; {platform.name} takes at least "
                                  f"{platform.min_seconds:g} s"))
