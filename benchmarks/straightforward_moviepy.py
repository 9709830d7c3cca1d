#!/usr/bin/env python3
"""The benchmark job rendered the straightforward way, as the original worker did, next to ours.

Straightforward (moviepy 2.x): per scene an ImageClip of the background with a
per-frame resize zoom (clip.resized(lambda t: ...)), a PIL-rasterized title and
subtitle lines as ImageClips, the Piper narration as an AudioFileClip; each scene
written with write_videofile; then all scenes read back, joined with crossfades
and the music, and encoded again. Same x264 preset, CRF, GOP and pixel format as
our renderer at the chosen quality, same size, fps and AAC bitrate.

Ours: the pipeline's cold render of the same job (empty private cache), once before
and once after the straightforward render (this machine's speed drifts over minutes;
the speed-up is against their mean). Both start warm, as in a running worker: Piper
loaded, and moviepy and our pipeline each through a tiny render first; both timed
wall-clock. glibc malloc keeps its defaults here: the worker's tuning for memory
(protovideo/malloc_tuning.py, a fixed mmap threshold) would slow moviepy's per-frame
arrays by half (351 s instead of 238 s in one measurement).

    python benchmarks/straightforward_moviepy.py --scenes 5 --width 540 --height 960 --fps 30 \
        [--quality standard|high] [--json out.json] [--skip-ours]
The x264 preset and CRF come from generators.encode.QUALITY for --quality (standard is the default).
"""
from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from generators.encode import encoder_for  # noqa: E402
from generators.images_simple import simple_background  # noqa: E402
from generators.speech import join_sentences, split_sentences, write_wav  # noqa: E402
from generators.subtitles import cues_for  # noqa: E402
from generators.text_render import render_text_block  # noqa: E402
from generators.tts import get_tts_provider  # noqa: E402
from protovideo.cli.benchmark_support import (EXAMPLES, BenchShape, RssSampler, add_shape_arguments,  # noqa: E402
                                          emit_json, machine, synthetic_job)
from jobmodel.spec import parse_job  # noqa: E402
from protovideo.runtime.settings import load_settings  # noqa: E402

LEAD, TAIL, ZOOM = 0.25, 0.5, 0.15


def _narration(provider, job, text: str, out: Path):
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


def render_straightforward(shape: BenchShape, work: Path, settings) -> dict:
    """Render the synthetic job the straightforward way; returns timings."""
    from moviepy import (AudioFileClip, CompositeAudioClip, CompositeVideoClip, ImageClip, VideoFileClip,
                         afx, concatenate_videoclips, vfx)
    job = parse_job(synthetic_job(shape, "straightforward"), base_dir=EXAMPLES, asset_root=EXAMPLES)
    enc = encoder_for(shape.quality, shape.fps, shape.width, shape.height, prefer="libx264")
    params = ["-crf", str(enc.quality), *(["-x264-params", enc.params] if enc.params else []),
              "-g", str(enc.fps * 2), "-pix_fmt", "yuv420p", "-profile:v", "high"]
    provider = get_tts_provider("piper", settings)
    w, h, fps = shape.width, shape.height, shape.fps
    scale = min(w, h) / 1080.0
    timings = {"tts": 0.0, "scenes_written": 0.0, "final_encode": 0.0}
    start_all = time.perf_counter()
    scene_files = []
    for scene in job.scenes:
        t0 = time.perf_counter()
        wav = work / f"narration-{scene.index}.wav"
        speech_s, spans = _narration(provider, job, scene.narration_text, wav)
        timings["tts"] += time.perf_counter() - t0
        t0 = time.perf_counter()
        # crossfades overlap neighbours by `fade`; ours keeps every scene's full length, so add it back
        duration = LEAD + speech_s + TAIL + (job.video.transition_duration if scene.index < len(job.scenes) - 1 else 0)
        picture = simple_background(scene.image_prompt or f"scene {scene.index}", w, h)
        # the original: the whole picture resized every frame
        background = (ImageClip(__import__("numpy").asarray(picture.convert("RGB"))).with_duration(duration)
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
        clip.write_videofile(str(out), fps=fps, codec="libx264", preset=enc.preset, ffmpeg_params=params,
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
    final.write_videofile(str(output), fps=fps, codec="libx264", preset=enc.preset, ffmpeg_params=params,
                          audio_codec="aac", audio_bitrate="192k", logger=None,
                          temp_audiofile=str(work / "final-sound.m4a"))
    for c in clips:
        c.close()
    timings["final_encode"] = time.perf_counter() - t0
    total = time.perf_counter() - start_all
    return {"wall_s": round(total, 3), "steps": {k: round(v, 3) for k, v in timings.items()},
            "video_duration": round(final.duration, 3), "encoder": {"preset": enc.preset, "crf": enc.quality, "params": enc.params}}


def render_ours(shape: BenchShape, work: Path, settings, name: str = "ours") -> dict:
    from protovideo.cli.benchmark import _private_settings, _render
    with RssSampler() as sampler:
        run = _render(synthetic_job(shape, f"{name}-cold"), _private_settings(settings, work, name,
                                                                               max(2, os.cpu_count() or 1)), sampler)
    return {"wall_s": run["wall_s"], "steps": {k: v["duration"] for k, v in run["steps"].items()},
            "video_duration": run["video_duration"], "encoder": run["encoder"]}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_shape_arguments(parser, scenes=5)
    parser.add_argument("--quality", choices=["draft", "standard", "high"], default="standard")
    parser.add_argument("--json", help="write the result here as JSON")
    parser.add_argument("--skip-ours", action="store_true", help="only the straightforward render")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    shape = BenchShape(args.scenes, args.width, args.height, args.fps, args.quality)
    settings = load_settings()
    base = settings.path("WORK_DIR")
    base.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="straightforward-", dir=base))
    try:
        provider = get_tts_provider("piper", settings)   # load Piper once, for both renders
        job = parse_job(synthetic_job(BenchShape(1, 64, 64, 4)), base_dir=EXAMPLES, asset_root=EXAMPLES)
        _narration(provider, job, "Warm up.", work / "warmup.wav")
        tiny = BenchShape(1, 64, 64, 4, shape.quality)   # imports and first calls, out of the timings
        (work / "warmup").mkdir()
        render_straightforward(tiny, work / "warmup", settings)
        if not args.skip_ours:
            render_ours(tiny, work, settings, "warmup-ours")
        result = {"date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "machine": machine(),
                  "job": {"scenes": shape.scenes, "width": shape.width, "height": shape.height, "fps": shape.fps,
                          "quality": shape.quality}}
        if not args.skip_ours:
            print("ours (cold) ...", file=sys.stderr, flush=True)
            result["ours"] = render_ours(shape, work, settings)
            print(f"  {result['ours']['wall_s']:.1f} s", file=sys.stderr, flush=True)
        print("straightforward moviepy ...", file=sys.stderr, flush=True)
        result["straightforward"] = render_straightforward(shape, work, settings)
        print(f"  {result['straightforward']['wall_s']:.1f} s", file=sys.stderr, flush=True)
        if not args.skip_ours:
            print("ours (cold) again ...", file=sys.stderr, flush=True)
            result["ours_after"] = render_ours(shape, work, settings, "ours-after")
            print(f"  {result['ours_after']['wall_s']:.1f} s", file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if "ours" in result:
        ours_mean = (result["ours"]["wall_s"] + result["ours_after"]["wall_s"]) / 2
        result["ours_mean_wall_s"] = round(ours_mean, 3)
        result["speedup"] = round(result["straightforward"]["wall_s"] / ours_mean, 2)
        result["target_6x_met"] = result["speedup"] >= 6
    emit_json(result, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
