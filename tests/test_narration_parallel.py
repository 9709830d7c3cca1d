"""Scenes narrated side by side (NARRATION_WORKERS) come out sample for sample as they do one
after the other, and they did run at the same time (the steps' own clock intervals overlap)."""
from __future__ import annotations

import wave

import numpy as np

from generators.encode import encoder_for
from job_parsing import parse_job
from protovideo.pipeline.render import Narration, Run, make_context

TEXTS = ["The first scene says a few words about rivers.",
         "A second scene, a little longer, talks about the mountains and the snow on them.",
         "And the third one ends it."]


def narrate(make_settings, tmp_path, workers: int):
    """Each scene's narration samples and the tts_synthesis intervals of one Narration run with
    its own cache folder (so every scene is synthesized, none read back)."""
    folder = tmp_path / f"w{workers}"
    folder.mkdir()
    settings = make_settings(NARRATION_WORKERS=str(workers), CACHE_DIR=str(folder / "cache"))
    job = parse_job({"id": f"narr{workers}", "video": {"width": 180, "height": 320, "fps": 10},
                     "scenes": [{"narration_text": t} for t in TEXTS]}, folder)
    ctx = make_context(settings)
    ctx.optimizer.start_performance_monitoring(job.id, scenes=len(job.scenes))
    run = Run(job, ctx, folder / "out.mp4", folder / "work", encoder_for("draft", 10, 180, 320), 1)
    with Narration(run) as narration:
        sounds = [narration.next(scene) for scene in job.scenes]
    samples = []
    for sound in sounds:
        with wave.open(str(sound.speech.path), "rb") as wav:
            samples.append(np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").copy())
    spans = [(i["start"], i["end"]) for i in ctx.optimizer.get_performance_report()["intervals"]
             if i["step"] == "tts_synthesis"]
    ctx.cache.close()
    return samples, spans


def test_side_by_side_narration_is_sample_identical_and_overlaps(make_settings, tmp_path):
    serial, serial_spans = narrate(make_settings, tmp_path, 1)
    parallel, spans = narrate(make_settings, tmp_path, 3)
    assert len(serial) == len(parallel) == 3
    for i, (a, b) in enumerate(zip(serial, parallel)):
        assert len(a) > 1000 and np.array_equal(a, b), f"scene {i}: the side-by-side speech differs"
    assert len(serial_spans) == len(spans) == 3
    ordered = sorted(serial_spans)
    assert all(a[1] <= b[0] + 1e-3 for a, b in zip(ordered, ordered[1:])), "one worker overlapped"
    ordered = sorted(spans)
    assert any(b[0] < a[1] for a, b in zip(ordered, ordered[1:])), f"no two scenes at once: {spans}"
