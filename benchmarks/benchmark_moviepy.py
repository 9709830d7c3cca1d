"""The benchmark job rendered the straightforward way (moviepy), as the original worker did.

Straightforward (moviepy 2.x): per scene an ImageClip of the background with a
per-frame resize zoom (clip.resized(lambda t: ...)), a PIL-rasterized title and
subtitle lines as ImageClips, the Piper narration as an AudioFileClip; each scene
written with write_videofile; then all scenes read back, joined with crossfades
and the music, and encoded again.

`--benchmark` compares it with ours at equal VMAF (`compare()`): in a process of
its own (glibc malloc at its defaults: the worker's tuning, protovideo/runtime/
malloc_tuning.py, slows moviepy's per-frame arrays by half; and Piper loaded and
moviepy warmed up by a tiny render first, as in a running worker) it is rendered
once timed, with moviepy's own x264 setting (medium, CRF 23), and once more,
untimed, with the same narration (Piper draws its timing at random) and every
encode lossless (x264 -qp 0): its own frames before any loss. Its VMAF is that of
the timed output against those frames. Our frames cannot serve as its reference:
its zoom resizes the whole picture every frame, its titles and cues sit elsewhere,
so no frame of it equals one of ours even before encoding.

    python -m benchmarks.benchmark_moviepy --scenes 5 --width 540 --height 960 --fps 30 --json out.json
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from generators.encode import LOSSLESS, EncoderSettings, encoder_for
from generators.images_simple import simple_background
from generators.speech import join_sentences, split_sentences, write_wav
from generators.subtitles import cues_for
from generators.text_render import render_text_block
from generators.tts import get_tts_provider
from protovideo.pipeline.jobcheck import JobChecker
from benchmarks.benchmark_quality import MOVIEPY_ARGS
from benchmarks.benchmark_support import EXAMPLES, BenchShape, cpu_seconds, synthetic_job

LEAD, TAIL, ZOOM = 0.25, 0.5, 0.15



def synthesize_narration(provider, job, text: str, out: Path):
    sentences = split_sentences(text)
    chunks, rate = provider.synthesize_sentences(sentences, job.voice, None)
    samples, spans = join_sentences(chunks, sentences, rate)
    write_wav(out, samples, rate)
    return len(samples) / rate, spans


def _text_clip(image, duration: float, width: int, height: int, position: str, start: float = 0.0):
    import numpy as np
    from moviepy import ImageClip
    rgba = np.asarray(image.convert("RGBA"))
    clip = ImageClip(rgba[..., :3]).with_mask(ImageClip(rgba[..., 3] / 255.0, is_mask=True))
    y = {"top": int(height * 0.08), "center": (height - rgba.shape[0]) // 2,
         "bottom": height - rgba.shape[0] - int(height * 0.12)}[position]
    return clip.with_position(((width - rgba.shape[1]) // 2, y)).with_start(start).with_duration(duration)


def render_straightforward(shape: BenchShape, work: Path, settings, enc: EncoderSettings | None = None,
                           narrations: dict | None = None, provider=None) -> dict:
    """Render the synthetic job the straightforward way into work/straightforward.mp4.

    `enc`: the x264 setting of every write_videofile (default: the shape's quality level).
    `narrations`: scene index -> (wav, seconds, spans); filled by this render, reused where
    present (the same narration for a second render). Returns timings and the output."""
    from moviepy import (AudioFileClip, CompositeAudioClip, CompositeVideoClip, ImageClip, VideoFileClip,
                         afx, concatenate_videoclips, vfx)
    import numpy as np
    job = JobChecker(settings).parse(synthetic_job(shape, "straightforward"), EXAMPLES)
    enc = enc or encoder_for(shape.quality, shape.fps, shape.width, shape.height, prefer="libx264")
    args = enc.args()   # -c:v libx264 -preset P, then the rest, as our renderer's encoder takes them
    assert args[:3] == ["-c:v", "libx264", "-preset"], args
    preset, params = args[3], args[4:]
    provider = provider or get_tts_provider("piper", settings)
    narrations = {} if narrations is None else narrations
    w, h, fps = shape.width, shape.height, shape.fps
    scale = min(w, h) / 1080.0
    timings = {"tts": 0.0, "scenes_written": 0.0, "final_encode": 0.0}
    start_all = time.perf_counter()
    scene_files = []
    for scene in job.scenes:
        t0 = time.perf_counter()
        if scene.index not in narrations:
            wav = work / f"narration-{scene.index}.wav"
            narrations[scene.index] = (wav, *synthesize_narration(provider, job, scene.narration_text, wav))
        wav, speech_s, spans = narrations[scene.index]
        timings["tts"] += time.perf_counter() - t0
        t0 = time.perf_counter()
        # crossfades overlap neighbours by `fade`; ours keeps every scene's full length, so add it back
        duration = LEAD + speech_s + TAIL + (job.video.transition_duration if scene.index < len(job.scenes) - 1 else 0)
        picture = simple_background(scene.image_prompt or f"scene {scene.index}", w, h)
        # the original: the whole picture resized every frame
        background = (ImageClip(np.asarray(picture.convert("RGB"))).with_duration(duration)
                      .resized(lambda t, d=duration: 1.0 + ZOOM * t / d).with_position("center"))
        layers = [background]
        if scene.text is not None:
            title = render_text_block(scene.text.content, int(scene.text.fontsize * scale), scene.text.color,
                                      int(w * 0.9))
            layers.append(_text_clip(title, duration, w, h, scene.text.position))
        for cue in cues_for(spans, job.subtitles.words_per_line, offset=LEAD):
            line = render_text_block(cue.text, int(min(w, h) * 0.06), "white", int(w * 0.9), box=True)
            layers.append(_text_clip(line, cue.end - cue.start, w, h, "bottom", start=cue.start))
        narration = AudioFileClip(str(wav)).with_start(LEAD)
        clip = CompositeVideoClip(layers, size=(w, h)).with_duration(duration).with_audio(
            CompositeAudioClip([narration]).with_duration(duration))
        out = work / f"scene-{scene.index}.mp4"
        clip.write_videofile(str(out), fps=fps, codec="libx264", preset=preset, ffmpeg_params=params,
                             audio_codec="aac", audio_bitrate="192k", logger=None,
                             temp_audiofile=str(work / f"scene-{scene.index}-sound.m4a"))
        clip.close()
        scene_files.append(out)
        timings["scenes_written"] += time.perf_counter() - t0
    t0 = time.perf_counter()
    fade = job.video.transition_duration
    clips = [VideoFileClip(str(p)) for p in scene_files]
    faded = [c if i == 0 else c.with_effects([vfx.CrossFadeIn(fade)]) for i, c in enumerate(clips)]
    video = concatenate_videoclips(faded, method="compose", padding=-fade)
    music = (AudioFileClip(str(EXAMPLES / "assets" / "music.m4a"))
             .with_effects([afx.AudioLoop(duration=video.duration), afx.MultiplyVolume(job.music_volume)]))
    final = video.with_audio(CompositeAudioClip([video.audio, music]).with_duration(video.duration))
    output = work / "straightforward.mp4"
    final.write_videofile(str(output), fps=fps, codec="libx264", preset=preset, ffmpeg_params=params,
                          audio_codec="aac", audio_bitrate="192k", logger=None,
                          temp_audiofile=str(work / "final-sound.m4a"))
    for c in clips:
        c.close()
    timings["final_encode"] = time.perf_counter() - t0
    total = time.perf_counter() - start_all
    return {"wall_s": round(total, 3), "steps": {k: round(v, 3) for k, v in timings.items()},
            "video_duration": round(final.duration, 3), "output": str(output),
            "encoder": {"preset": enc.preset, "crf": enc.quality, "params": enc.params}}


def measure_straightforward(shape: BenchShape, work: Path, settings, subsample: int = 1) -> dict:
    """Warm up, render timed at moviepy's own setting (medium CRF 23), render again losslessly with
    the same narration, and score the timed output's VMAF against those lossless frames."""
    from benchmarks.benchmark_quality import frame_count, reference_from_video, vmaf
    provider = get_tts_provider("piper", settings)
    tiny = BenchShape(1, 64, 64, 4, shape.quality)   # imports, model load and first calls, untimed
    (work / "warmup").mkdir(parents=True)
    render_straightforward(tiny, work / "warmup", settings, provider=provider)
    narrations: dict = {}
    timed = EncoderSettings("libx264", *MOVIEPY_ARGS, shape.fps, shape.width, shape.height)
    (work / "timed").mkdir()
    cpu0 = os.times()
    result = render_straightforward(shape, work / "timed", settings, timed, narrations, provider)
    result["cpu_s"] = round(cpu_seconds(cpu0, os.times()), 3)
    (work / "lossless").mkdir()
    lossless = encoder_for(LOSSLESS, shape.fps, shape.width, shape.height, prefer="libx264")
    reference = render_straightforward(shape, work / "lossless", settings, lossless, narrations, provider)
    ref = reference_from_video(Path(reference["output"]), work / "reference.yuv", shape.width, shape.height,
                               shape.fps)
    result["frames"] = frame_count(Path(result["output"]))
    result["reference_frames"] = ref.frames   # the same number: the two renders' frames align one to one
    result["vmaf"] = vmaf(ref, Path(result["output"]), subsample=subsample)
    result["bytes"] = Path(result["output"]).stat().st_size
    ref.raw.unlink(missing_ok=True)
    return result


def compare(shape: BenchShape, work: Path, subsample: int = 1, timeout: float = 3600) -> dict:
    """measure_straightforward() in a fresh Python process (see the module's text)."""
    work.mkdir(parents=True, exist_ok=True)
    out = work / "straightforward.json"
    cmd = [sys.executable, "-m", "benchmarks.benchmark_moviepy", "--scenes", str(shape.scenes),
           "--width", str(shape.width), "--height", str(shape.height), "--fps", str(shape.fps),
           "--subsample", str(subsample), "--work", str(work), "--json", str(out)]
    root = Path(__file__).resolve().parents[1]
    cpu0 = os.times()
    proc = subprocess.run(cmd, cwd=root, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError("the straightforward moviepy render failed: " + proc.stderr[-2000:])
    result = json.loads(out.read_text(encoding="utf-8"))
    result["process_cpu_s"] = round(cpu_seconds(cpu0, os.times()), 3)   # warm-up and reference included
    return result


def main(argv=None) -> int:
    from protovideo.runtime.settings import load_settings
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    for name, default in (("--scenes", 5), ("--width", 1080), ("--height", 1920), ("--fps", 30), ("--subsample", 1)):
        parser.add_argument(name, type=int, default=default)
    parser.add_argument("--work", default="", help="scratch folder (removed afterwards)")
    parser.add_argument("--json", required=True, help="write the result here")
    args = parser.parse_args(argv)
    settings = load_settings()
    base = Path(args.work) if args.work else settings.path("WORK_DIR")
    base.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="straightforward-", dir=base))
    try:
        shape = BenchShape(args.scenes, args.width, args.height, args.fps)
        result = measure_straightforward(shape, work, settings, subsample=max(1, args.subsample))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result.pop("output", None)
    Path(args.json).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    from generators.plugins import load_all
    load_all()
    sys.exit(main())
