"""Pieces the benchmarks share: the synthetic offline job, a peak-RSS sampler, the x264 floor.

Used by `python main_worker.py --benchmark` (benchmarks/offline.py) and by the
scripts in benchmarks/ (moviepy comparison, memory soak).
"""
from __future__ import annotations

import os
import platform
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

from generators.encode import EncoderSettings
from generators.ffmpeg import ffmpeg_exe

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"          # the synthetic job's folder: music is assets/music.m4a
MOTIONS = ("zoom_in", "pan_left", "zoom_out", "pan_right", "zoom_in", "none")
SENTENCES = (
    "Every morning the mountains wake up slowly.",
    "The light climbs over the ridge and warms the valley.",
    "Down by the river the water is busy and loud.",
    "A small boat drifts past the old wooden bridge.",
    "In the city the streets fill with people and bicycles.",
    "Someone opens a bakery and the smell of bread spreads.",
    "By noon the sun stands high above the quiet fields.",
    "Clouds gather in the west and the wind turns cool.",
    "The evening brings long shadows and golden windows.",
    "At night the stars come out one by one.",
    "Thanks for watching, and see you tomorrow.",
    "Tomorrow we will follow the river to the sea.",
)
TITLES = ("Morning", "The Valley", "The River", "The City", "Noon", "Evening", "Night")


@dataclass(frozen=True)
class BenchShape:
    scenes: int = 5
    width: int = 1080
    height: int = 1920
    fps: int = 30
    quality: str = "standard"

    @classmethod
    def from_env(cls, scenes: int, environ=None) -> "BenchShape":
        """BENCH_WIDTH / BENCH_HEIGHT / BENCH_FPS / BENCH_QUALITY override the defaults."""
        env = os.environ if environ is None else environ

        def number(name: str, default: int) -> int:
            raw = env.get(name, "").strip()
            if not raw:
                return default
            try:
                value = int(raw)
            except ValueError:
                raise ValueError(f"{name} must be a whole number, not {raw!r}") from None
            if value <= 0:
                raise ValueError(f"{name} must be positive, not {value}")
            return value

        quality = env.get("BENCH_QUALITY", "").strip() or "standard"
        if quality not in ("draft", "standard", "high"):
            raise ValueError(f"BENCH_QUALITY must be draft, standard or high, not {quality!r}")
        width, height = number("BENCH_WIDTH", 1080), number("BENCH_HEIGHT", 1920)
        if width % 2 or height % 2:
            raise ValueError("BENCH_WIDTH and BENCH_HEIGHT must be even (H.264 4:2:0)")
        return cls(scenes, width, height, number("BENCH_FPS", 30), quality)


def narration_for(i: int) -> str:
    """One or two sentences for scene i (alternating), from a fixed list."""
    first = SENTENCES[i % len(SENTENCES)]
    if i % 2 == 0:
        return first + " " + SENTENCES[(i + 5) % len(SENTENCES)]
    return first


def synthetic_job(shape: BenchShape, job_id: str = "benchmark", changed_scene: int | None = None,
                  variant: str = "") -> dict:
    """The benchmark job as job JSON (resolve against EXAMPLES).

    changed_scene: that scene's narration gets one more sentence (the one-scene-changed run).
    variant: mixed into every narration (so repeated jobs of a soak are not cache hits).
    """
    if shape.scenes < 1:
        raise ValueError("--scenes must be at least 1")
    scenes = []
    for i in range(shape.scenes):
        text = narration_for(i)
        if variant:
            text = f"{text} This is take {variant}."
        if changed_scene == i:
            text += " Something new happened here today."
        scene = {"promptImage": f"benchmark background {i}", "narration_text": text,
                 "subtitle": True, "motion": MOTIONS[i % len(MOTIONS)]}
        if i % 2 == 0:
            scene["text"] = {"content": TITLES[(i // 2) % len(TITLES)], "position": ("top", "center")[i % 4 // 2],
                             "fontsize": 96}
        scenes.append(scene)
    return {
        "id": job_id,
        "output_filename": f"{job_id}.mp4",
        "video": {"width": shape.width, "height": shape.height, "fps": shape.fps, "transition": "crossfade",
                  "transition_duration": 0.5, "quality": shape.quality},
        "music": "assets/music.m4a",
        "music_volume": 0.15,
        "subtitles": {"words_per_line": 4, "position": "bottom"},
        "scenes": scenes,
    }


class RssSampler:
    """Peak RSS of this process and, separately, of its child processes (ffmpeg), sampled in a thread."""

    def __init__(self, interval: float = 0.1):
        self.interval = interval
        self.proc = psutil.Process()
        self.own_cmdline = self.proc.cmdline()
        self.peak_self_mb = 0.0
        self.peak_children_mb = 0.0
        self.peak_total_mb = 0.0
        self.window = {"self": 0.0, "children": 0.0}   # peaks since reset()
        self.biggest_child: tuple[float, str] = (0.0, "")   # (MB, command line head) of the largest child seen
        self.samples = 0
        self.own_cpu_s = 0.0   # CPU seconds this sampler's thread has used (listing children reads /proc)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="rss-sampler", daemon=True)

    def sample(self) -> tuple[float, float]:
        own = self.proc.memory_info().rss / 2**20
        children = 0.0
        try:
            kids = self.proc.children(recursive=True)
        except psutil.Error:
            kids = []
        biggest = (0.0, "")
        for kid in kids:
            try:
                if kid.cmdline() == self.own_cmdline:
                    continue   # forked for a subprocess but not yet exec'd: our own pages, shared
                rss = kid.memory_info().rss / 2**20
                children += rss
                if rss > biggest[0]:
                    biggest = (rss, " ".join(Path(a).name if i == 0 else a for i, a in enumerate(kid.cmdline()[:12])))
            except psutil.Error:
                pass   # ended between listing and reading
        if biggest[0] > self.biggest_child[0]:
            self.biggest_child = (round(biggest[0], 1), biggest[1])
        self.peak_self_mb = max(self.peak_self_mb, own)
        self.peak_children_mb = max(self.peak_children_mb, children)
        self.peak_total_mb = max(self.peak_total_mb, own + children)
        self.window["self"] = max(self.window["self"], own)
        self.window["children"] = max(self.window["children"], children)
        self.samples += 1
        return own, children

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            start = time.thread_time()
            self.sample()
            self.own_cpu_s += time.thread_time() - start

    def reset(self) -> None:
        """Start a new window (the overall peaks are kept)."""
        self.window = {"self": 0.0, "children": 0.0}

    def window_result(self) -> dict:
        return {"peak_rss_mb": round(self.window["self"], 1),
                "peak_children_rss_mb": round(self.window["children"], 1)}

    def __enter__(self) -> "RssSampler":
        self.sample()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()

    def result(self) -> dict:
        return {"peak_rss_mb": round(self.peak_self_mb, 1), "peak_children_rss_mb": round(self.peak_children_mb, 1),
                "peak_total_rss_mb": round(self.peak_total_mb, 1), "samples": self.samples,
                "largest_child": {"rss_mb": self.biggest_child[0], "command": self.biggest_child[1]}}


def cpu_seconds(before: os.times_result, after: os.times_result) -> float:
    """CPU seconds (user + system) of this process and its finished children between two os.times().

    Far less sensitive than wall time to other programs sharing the cores."""
    return sum(getattr(after, f) - getattr(before, f) for f in ("user", "system", "children_user", "children_system"))


def children_cpu_seconds(before: os.times_result, after: os.times_result) -> float:
    """CPU seconds of the finished children alone (a timed ffmpeg), without this process's threads."""
    return sum(getattr(after, f) - getattr(before, f) for f in ("children_user", "children_system"))


def encoder_input_format(enc: EncoderSettings, work: Path) -> str:
    """The raw pixel format the renderer's FrameEncoder pipes into ffmpeg (read from its command)."""
    from generators.encode import FrameEncoder
    probe = FrameEncoder(work / "probe.mp4", EncoderSettings(enc.codec, enc.preset, enc.quality, enc.fps, 16, 16))
    try:
        args = [str(a) for a in probe._proc.args]
    finally:
        probe.abort()
        (work / "probe.mp4").unlink(missing_ok=True)
    return args[args.index("-pix_fmt") + 1] if "-pix_fmt" in args else "rgb24"


def x264_floor(video: Path, enc: EncoderSettings, work: Path) -> dict:
    """Seconds ffmpeg needs to encode the video's frames (raw, read from a file) with `enc`.

    The frames are decoded to a raw file first (not timed), in the pixel format the
    renderer pipes (rgb24 or yuv420p); the timed encode uses the same codec
    arguments and threads as the renderer's FrameEncoder. The raw file is removed after.

    The decoded frames of a lossy video are not the frames the renderer made: its encode
    smoothed them (most of the backgrounds' fine grain is gone), and x264 needs about a
    fifth less for them. `--benchmark` times its floor on the job's lossless render
    instead (time_x264) and keeps this one for comparison.
    """
    work.mkdir(parents=True, exist_ok=True)
    pix_fmt = encoder_input_format(enc, work)
    raw = work / "floor-frames.raw"
    try:
        subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-nostdin", "-i", str(video), "-map", "0:v:0",
                        "-fps_mode", "passthrough", "-f", "rawvideo", "-pix_fmt", pix_fmt, str(raw)],
                       check=True, capture_output=True)
        return time_x264(raw, pix_fmt, enc, work)
    finally:
        raw.unlink(missing_ok=True)


def timed_encode(raw: Path, pix_fmt: str, width: int, height: int, fps: int, args: list[str],
                 out: Path) -> tuple[float, float]:
    """Wall and CPU seconds of ffmpeg encoding the raw frames in `raw` (read from a file) into
    `out` with `args` and `-threads 0`, as the renderer's one encoder. CPU: ffmpeg's alone, not
    this process's threads (the RSS sampler's among them)."""
    cmd = [ffmpeg_exe(), "-v", "error", "-y", "-nostdin", "-f", "rawvideo", "-pix_fmt", pix_fmt,
           "-s", f"{width}x{height}", "-r", str(fps), "-i", str(raw), "-an",
           *args, "-threads", "0", "-f", "mp4", str(out)]
    cpu0, start = os.times(), time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    return time.perf_counter() - start, children_cpu_seconds(cpu0, os.times())


def time_x264(raw: Path, pix_fmt: str, enc: EncoderSettings, work: Path) -> dict:
    """The floor: timed_encode of the raw frames in `raw` with `enc`; the output is not kept."""
    bytes_per_frame = enc.width * enc.height * (3 if pix_fmt == "rgb24" else 1.5)
    out = work / "floor.mp4"
    frames = int(raw.stat().st_size // bytes_per_frame)
    try:
        seconds, cpu = timed_encode(raw, pix_fmt, enc.width, enc.height, enc.fps, enc.args(), out)
    finally:
        out.unlink(missing_ok=True)
    return {"seconds": round(seconds, 3), "cpu_s": round(cpu, 3), "frames": frames, "input": f"rawvideo {pix_fmt} from a file",
            "encoder_args": enc.args(), "fps_encoded": round(frames / seconds, 1) if seconds else None}


def machine() -> dict:
    mem = psutil.virtual_memory().total / 2**30
    gpu = "none"
    if shutil.which("nvidia-smi"):
        try:
            out = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
                                 capture_output=True, text=True, timeout=20).stdout.strip()
            gpu = out.splitlines()[0] if out else "none"
        except (OSError, subprocess.SubprocessError):
            pass
    return {"cpus": os.cpu_count(), "memory_gib": round(mem, 1), "gpu": gpu, "python": platform.python_version(),
            "platform": platform.platform(), "processor": platform.processor() or platform.machine()}


def add_shape_arguments(parser, scenes: int) -> None:
    """--scenes, --width, --height, --fps for the benchmark scripts."""
    parser.add_argument("--scenes", type=int, default=scenes)
    parser.add_argument("--width", type=int, default=1080)
    parser.add_argument("--height", type=int, default=1920)
    parser.add_argument("--fps", type=int, default=30)


def emit_json(result: dict, path: str | None) -> None:
    """Print the result as JSON, and write it to `path` when given."""
    import json
    text = json.dumps(result, indent=2, default=str)
    if path:
        Path(path).write_text(text + "\n", encoding="utf-8")
    print(text)
