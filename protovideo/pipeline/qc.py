"""QC: every output checked from the file itself before it is called done (SPEC "Outputs").

One ffmpeg pass decodes every frame and every sample through blackdetect and freezedetect
(picture) and ebur128 and silencedetect (sound); PyAV reads the container's timing from the
packets (no decoding). What is found is compared with what the job planned, scene by scene
(`QCPlan`): black is a problem only where the plan did not ask for it, a frozen picture only in
a scene that planned motion (a slow zoom keeps moving; `motion: none` stills are meant to hold),
silence only inside a narration. A clip (a video scene) that stops moving for FREEZE_S is a
problem; a still whose camera was to move is one only when it stays still over most of its move
(CAMERA_STILL_SHARE; a slow zoom over a smooth picture changes little from frame to frame, and
x264 may hold it for part of a GOP, but it never holds the whole move). The result is the record's `qc` object:
`{"passed", "mode", "figures", "problems": [{"check", "message", "scene"?, "start"?, "end"?}]}`.
"""
from __future__ import annotations

import re
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path

from generators.ffmpeg import ffmpeg_exe
from generators.loudness import parse_ebur128
from jobmodel.errors import JobFailed

QC_VERSION = 1
BLACK_S = 0.5        # black for at least this long (blackdetect d)
FREEZE_S = 1.5       # frozen for at least this long inside a moving scene (freezedetect d)
FREEZE_NOISE = "-80dB"  # frames nearer than this to the frame the freeze began with count as one
CAMERA_STILL_SHARE = 0.8
SILENCE_DB = "-50dB"
SILENCE_S = 0.5
SILENT_SHARE = 0.8   # a narration this much silent, or with LONG_SILENCE_S of silence in one
LONG_SILENCE_S = 2.5
LOUDNESS_TOLERANCE = 1.0
KEYFRAME_S = 2.0


@dataclass(frozen=True)
class ScenePlan:
    index: int
    start: float
    end: float
    motion: str                 # "clip" (plays), "camera" (a camera move on a still), "none"
    ramp: float = 0.0           # seconds at each end where an eased camera move is slow by design
    may_be_black: bool = False  # the job asked for a dark picture here
    speech: tuple[float, float] | None = None   # where its narration is heard, seconds


@dataclass(frozen=True)
class QCPlan:
    fps: int
    duration: float
    scenes: tuple[ScenePlan, ...]
    loudness: float | None = None     # LUFS target; None: not normalized, not checked
    sound: bool = True                # the job has narration, music or clip sound to hear
    true_peak: float = -1.5
    max_video_kbps: int = 0           # a platform's cap; 0: none
    black_ok: tuple[tuple[float, float], ...] = ()   # spans meant to be dark (a fade through black)

    def identity(self) -> dict:
        return {"version": QC_VERSION, **asdict(self)}


@dataclass
class Findings:
    """What the file says: figures and the spans each filter found."""
    figures: dict = field(default_factory=dict)
    black: list[tuple[float, float]] = field(default_factory=list)
    frozen: list[tuple[float, float]] = field(default_factory=list)
    silent: list[tuple[float, float]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def check_output(path: Path, plan: QCPlan, mode: str) -> dict:
    """The `qc` object of the video at `path` (mode: fail | warn; the caller skips off)."""
    findings = inspect(path, plan)
    problems = judge(findings, plan)
    figures = dict(findings.figures)
    figures.update(black=_spans(findings.black), frozen=_spans(findings.frozen),
                   silent=_spans(findings.silent))
    return {"passed": not problems, "mode": mode, "figures": figures, "problems": problems}


def _spans(spans: list[tuple[float, float]]) -> list[list[float]]:
    return [[round(a, 3), round(b, 3)] for a, b in spans]


# ------------------------------------------------------------------ reading the file
def inspect(path: Path, plan: QCPlan) -> Findings:
    findings = Findings()
    findings.figures.update(container_facts(path))
    # luma alone is enough to see black and stillness. The decoder runs on one thread, skips
    # deblocking and may take non-conforming shortcuts: every frame is still decoded (a broken one
    # still reports its error) for about two thirds of the CPU of a full decode (RESULTS.md)
    graph = (f"[0:v]extractplanes=y,blackdetect=d={BLACK_S}:pix_th=0.10,"
             f"freezedetect=n={FREEZE_NOISE}:d={FREEZE_S}[v];"
             f"[0:a]ebur128=peak=true:framelog=quiet,silencedetect=n={SILENCE_DB}:d={SILENCE_S}[a]")
    has_audio = findings.figures.get("audio_codec") is not None
    if not has_audio:
        graph = graph.split(";")[0]
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostats", "-nostdin", "-v", "info", "-progress", "pipe:1",
           "-threads", "1", "-skip_loop_filter", "all", "-flags2", "fast", "-i", str(path), "-filter_complex", graph, "-map", "[v]", *(["-map", "[a]"] if has_audio else []),
           "-f", "null", "-"]
    proc = subprocess.run(cmd, capture_output=True, check=False)
    err = proc.stderr.decode("utf-8", "replace")
    if proc.returncode != 0:
        raise JobFailed("QC could not read the output: " + err.strip()[-300:])
    frames = re.findall(r"^frame=(\d+)", proc.stdout.decode("ascii", "replace"), re.M)
    findings.figures["frames_decoded"] = int(frames[-1]) if frames else 0
    findings.errors = [line for line in err.splitlines() if re.match(r"\[(h264|aac)[^\]]*\] ", line)]
    end = plan.duration
    findings.black = [(float(a), float(b)) for a, b in
                      re.findall(r"black_start:\s*([0-9.]+)\s+black_end:\s*([0-9.]+)", err)]
    findings.frozen = _paired(re.findall(r"freezedetect\.freeze_(start|end): ([0-9.]+)", err), end)
    findings.silent = _paired(re.findall(r"silence_(start|end): (-?[0-9.]+)", err), end)
    if has_audio:
        loud = parse_ebur128(err)
        findings.figures.update(integrated_lufs=loud.figures()["integrated_lufs"],
                                true_peak_dbtp=loud.figures()["true_peak_dbtp"],
                                loudness_range_lu=loud.figures()["range_lu"])
    return findings


def _paired(events: list[tuple[str, str]], end: float) -> list[tuple[float, float]]:
    """(start, end) spans from start/end events; a span still open at the end closes there."""
    spans, opened = [], None
    for kind, value in events:
        if kind == "start":
            opened = max(0.0, float(value))
        elif opened is not None:
            spans.append((opened, float(value)))
            opened = None
    if opened is not None:
        spans.append((opened, end))
    return spans


def container_facts(path: Path) -> dict:
    """Start, duration and codec of each stream, packets and keyframes, from demuxing alone."""
    import av
    facts: dict = {}
    with av.open(str(path)) as box:
        video = box.streams.video[0] if box.streams.video else None
        audio = box.streams.audio[0] if box.streams.audio else None
        if video is not None:
            facts.update(video_codec=video.codec_context.name, profile=video.codec_context.profile,
                         width=video.codec_context.width, height=video.codec_context.height,
                         fps=float(video.average_rate or 0))
        if audio is not None:
            facts.update(audio_codec=audio.codec_context.name, audio_profile=audio.codec_context.profile,
                         sample_rate=audio.codec_context.sample_rate,
                         channels=audio.codec_context.layout.nb_channels)
        ends: dict[str, tuple[float, float]] = {}
        keyframes, frames, video_bytes = [], 0, 0
        for packet in box.demux(*(s for s in (video, audio) if s is not None)):
            if packet.pts is None or packet.size == 0:
                continue
            kind = packet.stream.type
            t = float(packet.pts * packet.time_base)
            d = float((packet.duration or 0) * packet.time_base)
            first, last = ends.get(kind, (t, t + d))
            ends[kind] = (min(first, t), max(last, t + d))
            if kind == "video":
                frames += 1
                video_bytes += packet.size
                if packet.is_keyframe:
                    keyframes.append(t)
    for kind in ("video", "audio"):
        if kind in ends:
            facts[f"{kind}_start_s"] = round(ends[kind][0], 4)
            facts[f"{kind}_duration_s"] = round(ends[kind][1] - ends[kind][0], 4)
    facts["frames"] = frames
    keyframes.sort()
    span = facts.get("video_duration_s") or 0.0
    end = (facts.get("video_start_s") or 0.0) + span     # the last GOP runs to the last frame's end
    gaps = [b - a for a, b in zip(keyframes, keyframes[1:] + [end])]
    facts["max_keyframe_interval_s"] = round(max(gaps), 3) if gaps else None
    facts["video_kbps"] = round(video_bytes * 8 / 1000 / span) if span else 0
    return facts


# ------------------------------------------------------------------ comparing with the plan
def judge(findings: Findings, plan: QCPlan) -> list[dict]:
    problems: list[dict] = []
    f, frame = findings.figures, 1.0 / plan.fps

    def add(check: str, message: str, **where) -> None:
        problems.append({"check": check, "message": message, **where})

    _judge_timing(f, plan, frame, add)
    if findings.errors or f.get("frames_decoded") != f.get("frames"):
        add("decode", f"{f.get('frames_decoded')} of {f.get('frames')} frames decoded"
            + (f": {findings.errors[0][:200]}" if findings.errors else ""))
    for a, b in findings.black:
        if any(s - frame <= a and b <= e + frame for s, e in plan.black_ok):
            continue
        for scene in _overlapping(plan, a, b, BLACK_S):
            if not scene.may_be_black:
                add("black", f"scenes[{scene.index}]: black picture from {a:.2f} s to {b:.2f} s",
                    scene=scene.index, start=round(a, 3), end=round(b, 3))
    for a, b in findings.frozen:
        for scene in _overlapping(plan, a, b, FREEZE_S):
            if scene.motion == "clip":
                add("frozen", f"scenes[{scene.index}]: the clip stops moving from {a:.2f} s to {b:.2f} s",
                    scene=scene.index, start=round(a, 3), end=round(b, 3))
    for scene in plan.scenes:
        if scene.motion == "camera":
            _judge_camera(scene, findings.frozen, add)
    for scene in plan.scenes:
        if scene.speech is not None:
            _judge_speech(scene, findings.silent, add)
    _judge_sound(f, plan, add)
    return problems


def _judge_timing(f: dict, plan: QCPlan, frame: float, add) -> None:
    aac_frame = 1024 / (f.get("sample_rate") or 48000)   # the sound ends on a whole AAC frame
    if "audio_start_s" not in f:
        add("audio", "the video has no sound track")
        return
    if abs(f["audio_start_s"] - f.get("video_start_s", 0.0)) > frame:
        add("sync", f"sound starts at {f['audio_start_s']:.3f} s, picture at {f.get('video_start_s', 0):.3f} s")
    gap = f["audio_duration_s"] - f.get("video_duration_s", 0.0)
    if abs(gap) > max(frame, aac_frame) + 1e-3:
        longer = "shorter" if gap < 0 else "longer"
        add("duration", f"the sound ({f['audio_duration_s']:.3f} s) is {abs(gap):.3f} s {longer} than "
                        f"the picture ({f.get('video_duration_s', 0):.3f} s)")
    interval = f.get("max_keyframe_interval_s")
    if interval is not None and interval > KEYFRAME_S + frame + 1e-3:
        add("keyframes", f"{interval:.2f} s between keyframes; platforms want at most {KEYFRAME_S:g} s")


def _judge_sound(f: dict, plan: QCPlan, add) -> None:
    silent = (f.get("integrated_lufs") or -70.0) <= -69.0
    if plan.loudness is not None and f.get("integrated_lufs") is not None and (plan.sound or not silent):
        if abs(f["integrated_lufs"] - plan.loudness) > LOUDNESS_TOLERANCE:
            add("loudness", f"{f['integrated_lufs']:.1f} LUFS integrated; the target is {plan.loudness:g}")
        if (f.get("true_peak_dbtp") or -99) > plan.true_peak + 0.05:
            add("true_peak", f"true peak {f['true_peak_dbtp']:.1f} dBTP over the limit {plan.true_peak:g}")
    if plan.max_video_kbps and f.get("video_kbps", 0) > plan.max_video_kbps:
        add("bitrate", f"video at {f['video_kbps']} kbit/s; the platform takes at most {plan.max_video_kbps}")


def _judge_camera(scene: ScenePlan, frozen: list[tuple[float, float]], add) -> None:
    a, b = scene.start + scene.ramp, scene.end - scene.ramp
    held = sum(max(0.0, min(b, e) - max(a, s)) for s, e in frozen)
    if b - a >= FREEZE_S and held >= CAMERA_STILL_SHARE * (b - a):
        add("frozen", f"scenes[{scene.index}]: the camera move does not show ({held:.1f} of "
                      f"{b - a:.1f} s still)", scene=scene.index, start=round(a, 3), end=round(b, 3))


def _judge_speech(scene: ScenePlan, silent: list[tuple[float, float]], add) -> None:
    a, b = scene.speech
    overlaps = [min(b, e) - max(a, s) for s, e in silent if min(b, e) > max(a, s)]
    quiet = sum(overlaps)
    if b > a and (quiet >= SILENT_SHARE * (b - a) or max(overlaps, default=0) >= LONG_SILENCE_S):
        add("silence", f"scenes[{scene.index}]: silence where the narration should be "
                       f"({quiet:.1f} of {b - a:.1f} s)", scene=scene.index, start=round(a, 3), end=round(b, 3))


def _overlapping(plan: QCPlan, a: float, b: float, least: float) -> list[ScenePlan]:
    """The scenes a span covers for at least `least` seconds (or the whole scene when shorter)."""
    out = []
    for scene in plan.scenes:
        overlap = min(b, scene.end) - max(a, scene.start)
        if overlap >= min(least, scene.end - scene.start) - 1e-6 and overlap > 0:
            out.append(scene)
    return out


def summary(qc: dict) -> str:
    """One line naming the problems (the failure's message)."""
    problems = qc.get("problems") or []
    shown = "; ".join(p["message"] for p in problems[:3])
    more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
    return f"QC found {len(problems)} problem{'s' if len(problems) != 1 else ''}: {shown}{more}"
