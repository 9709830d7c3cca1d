"""What a job and the settings ask of the published file: its loudness target, the platform's
caps on the encoder, and the length the platform takes (SPEC "Outputs", `audio`, `video.platform`)."""
from __future__ import annotations

from generators.encode import AUDIO_BITRATE
from generators.loudness import LoudnessTarget
from jobmodel.platforms import PLATFORMS, check_length
from jobmodel.spec import Job


def loudness_target(job: Job, settings) -> LoudnessTarget:
    """job.audio.loudness, else the platform's, else LOUDNESS_TARGET; "off" (either) = None."""
    platform = PLATFORMS.get(job.video.platform)
    bitrate = platform.audio_bitrate if platform else AUDIO_BITRATE
    if not job.audio.normalize:
        return LoudnessTarget(None, job.audio.true_peak, bitrate)
    if job.audio.loudness is not None:
        return LoudnessTarget(job.audio.loudness, job.audio.true_peak, bitrate)
    if platform is not None and settings.LOUDNESS_TARGET is not None:
        return LoudnessTarget(platform.loudness, job.audio.true_peak, bitrate)
    return LoudnessTarget(settings.LOUDNESS_TARGET, job.audio.true_peak, bitrate)


def video_kbps_cap(job: Job) -> int:
    """The platform's video bitrate cap in kbit/s (0: none published)."""
    platform = PLATFORMS.get(job.video.platform)
    return platform.max_video_kbps if platform else 0


def check_platform_length(job: Job, seconds: float) -> None:
    """JobInvalid naming video.platform when the timeline (narration included) is longer or
    shorter than the platform takes."""
    platform = PLATFORMS.get(job.video.platform)
    if platform is not None:
        check_length(platform, seconds)
