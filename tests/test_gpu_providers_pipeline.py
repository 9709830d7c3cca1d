"""GPU providers through the whole pipeline and the daemon (on the CPU, with tiny models)."""
from __future__ import annotations

import json
import subprocess
import sys

from daemon_helpers import ROOT, read_json, tiny_job, worker_env
from media import ffprobe
from job_parsing import parse_job
from protovideo.pipeline.render import make_context, render_job
from tiny_models import tiny_sd_pipeline  # noqa: F401  (session fixture)


def test_diffusers_job_renders_end_to_end_and_hits_the_cache(make_settings, tmp_path, tiny_sd_pipeline):
    settings = make_settings(DIFFUSERS_MODEL=str(tiny_sd_pipeline), IMAGE_DEVICE="cpu")
    data = {"id": "sd", "image": {"provider": "diffusers", "steps": 2, "width": 64, "height": 64, "seed": 7},
            "video": {"width": 160, "height": 284, "fps": 12},
            "scenes": [{"promptImage": "a red fox", "duration": 1.0},
                       {"promptImage": "a blue lake", "duration": 1.0}]}
    first = render_job(parse_job(data, tmp_path), make_context(settings))
    info = ffprobe(first.output)
    assert float(info["format"]["duration"]) >= 1.5
    kinds = first.report["cache_stats"]["by_kind"]
    assert kinds["image"]["misses"] == 2 and "image_generation" in first.report["steps"]
    second = render_job(parse_job(data, tmp_path), make_context(settings))
    kinds = second.report["cache_stats"]["by_kind"]
    assert kinds["image"]["hits"] == 2 and kinds["image"]["misses"] == 0
    assert kinds["piece"]["misses"] == 0
    assert "image_generation" not in second.report["steps"]


def test_chatterbox_job_fails_clearly_and_the_daemon_carries_on(tmp_path):
    """chatterbox-tts is not installed on CPU machines here: that job fails, the next one renders."""
    env = worker_env(tmp_path)
    jobs = tmp_path / "jobs"
    jobs.mkdir()
    clone = tiny_job("clone")
    clone["voice"] = {"provider": "chatterbox"}
    clone["scenes"][0]["narration_text"] = "Hello from a cloned voice."
    (jobs / "clone.json").write_text(json.dumps(clone))
    (jobs / "plain.json").write_text(json.dumps(tiny_job("plain")))
    for name in ("clone", "plain"):
        proc = subprocess.run([sys.executable, str(ROOT / "main_worker.py"), "submit", str(jobs / f"{name}.json")],
                              cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
    ran = subprocess.run([sys.executable, str(ROOT / "main_worker.py"), "run", "--once"], cwd=tmp_path,
                         env=env, capture_output=True, text=True, timeout=300)
    assert ran.returncode == 1, ran.stderr[-2000:]   # SPEC: `run --once` exits 1 when a job failed
    failed = read_json(tmp_path / "var" / "spool" / "failed" / "clone.json")
    assert "chatterbox-tts" in failed["error"]["message"]
    assert failed["attempts"] == 1, "a missing package is not worth a retry"
    done = read_json(tmp_path / "var" / "spool" / "done" / "plain.json")
    assert done["status"] == "done"
