"""Limits on what one job may ask for; each refusal names the limit."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    max_job_json_bytes: int = 2_000_000
    max_json_depth: int = 20
    max_scenes: int = 200
    max_scene_narration_chars: int = 5_000
    max_job_narration_chars: int = 50_000
    max_title_chars: int = 300
    max_prompt_chars: int = 2_000
    min_scene_seconds: float = 0.2
    max_scene_seconds: float = 600.0
    max_job_seconds: float = 3_600.0
    min_side: int = 16
    max_side: int = 3840
    max_frame_pixels: int = 3840 * 2160
    max_image_pixels: int = 80_000_000      # decompression bombs
    max_video_seconds: float = 3_600.0
    max_video_pixels: int = 4096 * 4096
    max_audio_seconds: float = 3_600.0


LIMITS = Limits()
