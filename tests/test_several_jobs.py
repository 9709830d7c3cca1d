"""MAX_JOBS=2 through the real pipeline in one process: two jobs render at once (shown by their
reports' step intervals, forced to meet by a seam, never by timing), each with its own MP4
(ffprobe) and report; a cancel or a failure of one leaves the other finishing; every model
is loaded once for both."""
from __future__ import annotations

import threading

import pytest

from generators.models import MODELS
from generators.tts_piper import default_voice_path
from jobmodel.states import JobState
from media import ffprobe, streams
from several_jobs_helpers import (WorkerThread, absolute_intervals, output, overlap, record,
                                  report, seamed_runtime, spoken_job)
from daemon_helpers import wait_for
from test_chatterbox_tts import STAND_IN, stand_in  # noqa: F401  (fixture: chatterbox.tts stand-in)
from tiny_models import tiny_sd_pipeline  # noqa: F401  (session fixture)

MEET = 120   # seconds a job waits at a meeting point for the other before the test fails


def _meeting(steps: set[tuple[str, int | None]], parties: int = 2):
    """A hook where each job's first run of one of `steps` waits for the other job's."""
    barrier = threading.Barrier(parties, timeout=MEET)
    met: set[str] = set()
    lock = threading.Lock()

    def hook(ctx, job_id, step, scene):
        if (step, scene) in steps:
            with lock:
                first = job_id not in met
                met.add(job_id)
            if first:
                barrier.wait()   # BrokenBarrierError fails the job when the other never comes
    return hook


def _check_video(settings, job_id: str) -> dict:
    rep = report(settings, job_id)
    info = ffprobe(output(settings, job_id))
    (video,), (sound,) = streams(info, "video"), streams(info, "audio")
    assert (video["codec_name"], video["width"], video["height"]) == ("h264", 160, 284)
    assert sound["codec_name"] == "aac"
    assert abs(float(info["format"]["duration"]) - rep["video_duration"]) < 0.15
    assert rep["job_id"] == job_id and rep["output"] == str(output(settings, job_id))
    return rep


def _piper_key():
    return ("tts", "piper", str(default_voice_path()), "cpu", "fp32")


def test_two_jobs_render_at_once_with_one_voice_model_each_with_its_own_video(make_settings):
    settings = make_settings(MAX_JOBS=2, MAX_WORKERS=1, POLL_INTERVAL=0.05)
    key = _piper_key()
    MODELS.unload(key)
    loads_before = MODELS.load_counts.get(key, 0)
    runtime = seamed_runtime(settings, _meeting({("tts_synthesis", 0)}))
    with WorkerThread(runtime, [spoken_job("left"), spoken_job("right")]) as run:
        run.join()
    assert run.worker.counts["done"] == 2, run.worker.counts
    left, right = _check_video(settings, "left"), _check_video(settings, "right")
    # both narrations were under way at the same moment: their intervals overlap
    assert overlap(absolute_intervals(left, "tts_synthesis"),
                   absolute_intervals(right, "tts_synthesis")) > 0
    assert MODELS.load_counts.get(key, 0) - loads_before == 1   # one voice model for both jobs
    for rep in (left, right):
        assert rep["jobs_at_once"] == 2   # its memory figures are the process's, shared by two
        assert [s["index"] for s in rep["scenes"]] == [0, 1]
        assert rep["critical_path"]["steps"][-1]["end"] <= rep["total_time"] + 1e-3
    assert record(settings, "done", "left")["report"] != record(settings, "done", "right")["report"]


def test_cancelling_one_running_job_leaves_the_other_finishing(make_settings):
    settings = make_settings(MAX_JOBS=2, MAX_WORKERS=1, POLL_INTERVAL=0.05, LEASE_SECONDS=30)
    cancelled = threading.Event()

    def hook(ctx, job_id, step, scene):
        if step == "render_scene" and job_id == "doomed":
            ctx.cancel.wait(MEET)       # renders nothing until its cancel arrives
        if step == "render_scene" and job_id == "keeps":
            assert cancelled.wait(MEET), "the other job was never cancelled"

    jobs = [spoken_job("doomed", scenes=3), spoken_job("keeps")]
    with WorkerThread(seamed_runtime(settings, hook), jobs) as run:
        wait_for(lambda: all(run.source.get(j).state == JobState.STARTED for j in ("doomed", "keeps")),
                 timeout=MEET, what="both jobs to be running")
        run.source.cancel("doomed")
        wait_for(lambda: run.source.get("doomed").state == JobState.CANCELLED, timeout=MEET,
                 what="the cancelled job to stop")
        assert run.source.get("keeps").state == JobState.STARTED   # still at work
        cancelled.set()
        run.join()
    assert run.worker.counts == {"done": 1, "failed": 0, "retried": 0, "released": 0,
                                 "cancelled": 1}
    _check_video(settings, "keeps")
    assert not output(settings, "doomed").exists()
    assert record(settings, "cancelled", "doomed")["status"] == "cancelled"


def test_a_failing_job_leaves_the_other_finishing(make_settings):
    settings = make_settings(MAX_JOBS=2, MAX_WORKERS=1, POLL_INTERVAL=0.05)
    (settings.path("ASSET_ROOT")).mkdir(parents=True, exist_ok=True)
    (settings.path("ASSET_ROOT") / "not-a-picture.png").write_text("<html>no picture</html>\n")
    failed = threading.Event()

    def hook(ctx, job_id, step, scene):
        if step == "render_scene" and job_id == "fine":
            assert failed.wait(MEET), "the broken job never failed"

    broken = spoken_job("broken")
    broken["scenes"][1]["image"] = "not-a-picture.png"
    with WorkerThread(seamed_runtime(settings, hook), [spoken_job("fine"), broken]) as run:
        wait_for(lambda: run.source.get("broken").state == JobState.FAILED, timeout=MEET,
                 what="the broken job to fail")
        assert run.source.get("fine").state == JobState.STARTED
        failed.set()
        run.join()
    assert run.worker.counts["done"] == 1 and run.worker.counts["failed"] == 1
    _check_video(settings, "fine")
    error = record(settings, "failed", "broken")["error"]
    assert "not a picture" in error["message"] and "scenes[1]" in error["message"]


# speech of a length the word alignment can work with (0.06 s a letter)
@pytest.mark.stand_in(STAND_IN.replace("self.sr * 0.002 * len(text)", "self.sr * 0.06 * len(text)"))
def test_two_jobs_at_once_load_the_diffusion_and_chatterbox_models_once(make_settings, stand_in,
                                                                        tiny_sd_pipeline):
    from generators.images import get_image_provider
    from generators.tts import get_tts_provider
    settings = make_settings(MAX_JOBS=2, MAX_WORKERS=1, POLL_INTERVAL=0.05, TTS_DEVICE="cpu",
                             IMAGE_DEVICE="cpu", DIFFUSERS_MODEL=str(tiny_sd_pipeline))
    voice_key = get_tts_provider("chatterbox", settings).model_key()
    images = get_image_provider("diffusers", settings)
    image_key = images.model_key(images.resolve_model(""))
    MODELS.unload(voice_key)
    before = {k: MODELS.load_counts.get(k, 0) for k in (voice_key, image_key)}

    def job(job_id: str, seed: int) -> dict:
        data = spoken_job(job_id, voice={"provider": "chatterbox"},
                          image={"provider": "diffusers", "steps": 2, "width": 64, "height": 64,
                                 "seed": seed})
        for n, scene in enumerate(data["scenes"]):
            scene["promptImage"] = f"picture {n} of {job_id}"
        return data

    hook = _meeting({("tts_synthesis", 0)})
    with WorkerThread(seamed_runtime(settings, hook), [job("first", 1), job("second", 2)]) as run:
        run.join()
    assert run.worker.counts["done"] == 2, run.worker.counts
    first, second = _check_video(settings, "first"), _check_video(settings, "second")
    assert overlap(absolute_intervals(first, "tts_synthesis"),
                   absolute_intervals(second, "tts_synthesis")) > 0
    assert {k: MODELS.load_counts.get(k, 0) - before[k] for k in before} == {voice_key: 1, image_key: 1}
    assert [c for c in stand_in.CALLS if c[0] == "from_pretrained"] == [("from_pretrained", "cpu")]
    spoken = sorted(c[1] for c in stand_in.CALLS if c[0] == "generate")
    assert spoken == sorted(s["narration_text"] for j in ("first", "second")
                            for s in job(j, 0)["scenes"])
    assert first["cache_stats"]["by_kind"]["image"]["misses"] == 2
    assert second["cache_stats"]["by_kind"]["image"]["misses"] == 2
