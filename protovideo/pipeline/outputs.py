"""What a job and the settings ask of the published file: its loudness target, the platform's
caps on the encoder, and the length the platform takes (SPEC "Outputs", `audio`, `video.platform`)."""
from __future__ import annotations

from cache import make_key
from generators.encode import AUDIO_BITRATE
from generators.loudness import LoudnessTarget
from jobmodel.errors import QCFailed
from jobmodel.platforms import PLATFORMS, check_length
from jobmodel.spec import Job
from protovideo.pipeline.qc import QCPlan, ScenePlan, check_output, summary

EASED = 0.15   # share of a still scene at each end where its smoothstep camera move is slow


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


def qc_plan(job: Job, counts: list[int], narration_s: list[float], lead: float,
            target: LoudnessTarget) -> QCPlan:
    """What the job planned, scene by scene, for QC to compare the file with: where the picture
    moves (a camera move, a clip), where narration is heard, the loudness target, the bitrate cap."""
    fps, scenes, start = job.video.fps, [], 0
    for scene, n, speech in zip(job.scenes, counts, narration_s):
        a, b = start / fps, (start + n) / fps
        clip = scene.type == "video"
        motion = "clip" if clip else "camera" if scene.motion != "none" else "none"
        scenes.append(ScenePlan(index=scene.index, start=a, end=b, motion=motion,
                                ramp=0.0 if clip else EASED * (b - a),
                                speech=(a + lead, min(b, a + lead + speech)) if speech > 0 else None))
        start += n
    # a transition through black (the catalogue's fade_black) is dark by design around each cut
    dips = tuple((sc.end - job.video.transition_duration, sc.end + job.video.transition_duration)
                 for i, sc in enumerate(scenes[:-1]) if "black" in job.transition_after(i))
    sound = bool(job.music) or any(sec > 0 for sec in narration_s) or any(
        s.music or (s.type == "video" and s.volume > 0) for s in job.scenes)
    return QCPlan(fps=fps, duration=start / fps, scenes=tuple(scenes), loudness=target.integrated, sound=sound,
                  true_peak=target.true_peak, max_video_kbps=video_kbps_cap(job), black_ok=dips)


def quality_gate(joined, joined_key: str, plan: QCPlan, ctx) -> dict | None:
    """QC of the joined file (settings.QC: off -> None). The result is kept with the joined file's
    key, so a job rendered again is not checked again. QC=fail and a problem: QCFailed."""
    mode = ctx.settings.QC
    if mode == "off":
        return None
    key = make_key("qc", joined=joined_key, plan=plan.identity())
    qc = ctx.cache.get_meta(key)
    if qc is None:
        with ctx.tracker.working("qc"), ctx.optimizer.monitor_performance("qc"):
            qc = check_output(joined, plan, mode)
        ctx.cache.put_meta(key, qc)
    qc = {**qc, "mode": mode}
    if not qc["passed"]:
        ctx.log.warning("job %s: %s", ctx.optimizer.task_id, summary(qc))
        if mode == "fail":
            raise QCFailed(summary(qc), qc)
    return qc
