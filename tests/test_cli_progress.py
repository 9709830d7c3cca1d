"""The commands show progress: `render` draws a bar on a terminal (rich) and writes one line per step
into a pipe; `status JOB_ID` names the step, the percent and the ETA, a queued job's from its place."""
from __future__ import annotations

import io
import json
import os
import pty
import re
import select
import subprocess
import sys
import threading

from daemon_helpers import ROOT, worker_env
from protovideo.cli.render import TerminalProgress

STEPS = [(0, "narration 1 of 2", 20.0), (90, "narration 1 of 2", 18.0), (180, "narration 2 of 2", 15.0),
         (300, "scene 1 of 2", 12.0), (420, "scene 1 of 2", 10.0), (500, "scene 2 of 2", 8.0),
         (800, "join", 2.0), (900, "QC", 1.0), (1000, "done", 0.0)]


def test_piped_progress_is_one_line_per_step():
    out = io.StringIO()                      # not a terminal
    progress = TerminalProgress(stream=out)
    for done, what, eta in STEPS:
        progress(done, 1000, what, eta_s=eta, percent=done / 10)
    progress.finish()
    lines = out.getvalue().splitlines()
    labels = list(dict.fromkeys(what for _, what, _ in STEPS))
    assert len(lines) == len(labels), lines
    for line, label in zip(lines, labels):
        assert label in line
    assert "scene 1 of 2, 30 %, about 12 s left" in lines[2]
    assert lines[-1].endswith("done, 100 %")


def test_on_a_terminal_a_bar_shows_the_step_percent_and_eta():
    master, slave = pty.openpty()
    stream = os.fdopen(slave, "w", encoding="utf-8")
    chunks: list[bytes] = []
    stop = threading.Event()

    def drain():
        while not stop.is_set():
            ready, _, _ = select.select([master], [], [], 0.05)
            if ready:
                try:
                    chunks.append(os.read(master, 65536))
                except OSError:
                    return

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    progress = TerminalProgress(stream=stream)
    assert progress.tty
    progress(500, 1000, "scene 2 of 3", eta_s=75.0)
    progress.finish()
    stream.flush()
    stop.set()
    reader.join(5)
    stream.close()
    os.close(master)
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", b"".join(chunks).decode("utf-8", "replace"))
    assert "scene 2 of 3" in text and "50%" in text and "about 1 min 15 s left" in text
    assert "━" in text                        # rich's bar


def test_render_into_a_pipe_prints_each_step_once(tmp_path):
    job = {"id": "piped", "video": {"width": 160, "height": 284, "fps": 12, "quality": "draft"},
           "scenes": [{"narration_text": "One short line.", "motion": "none"},
                      {"narration_text": "And another one.", "motion": "none"}]}
    file = tmp_path / "piped.json"
    file.write_text(json.dumps(job))
    result = subprocess.run([sys.executable, str(ROOT / "main_worker.py"), "render", str(file)], cwd=tmp_path,
                            env=worker_env(tmp_path), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("[")]
    labels = [line.split("] ", 1)[1].split(",")[0] for line in lines]
    assert len(labels) == len(set(labels)), lines        # each step once
    assert labels[0] == "narration 1 of 2" and labels[-1] == "done", labels
    assert "join" in labels and "publish" in labels and any(label.startswith("scene ") for label in labels)
    percents = [int(re.search(r", (\d+) %", line).group(1)) for line in lines]
    assert percents == sorted(percents) and percents[-1] == 100 and max(percents[:-1]) < 100


def test_status_names_the_step_percent_and_eta(tmp_path):
    from protovideo.runtime.settings import load_settings
    from protovideo.service.sources.spool import SpoolSource
    env = worker_env(tmp_path)
    source = SpoolSource(load_settings(env, cwd=tmp_path, read_files=False), worker_name="w1")
    for job_id in ("running", "waiting"):
        source.submit({"id": job_id, "video": {"width": 270, "height": 480, "fps": 12},
                       "scenes": [{"duration": 2, "motion": "none"}]})
    claimed = source.claim()
    assert claimed.id == "running"
    claimed.progress = {"done": 340, "total": 1000, "what": "scene 2 of 5", "step": "scenes", "eta_s": 72.0}
    source.heartbeat(claimed)

    def status(job_id):
        answer = subprocess.run([sys.executable, str(ROOT / "main_worker.py"), "status", job_id], cwd=tmp_path,
                                env=env, capture_output=True, text=True, timeout=300)
        assert answer.returncode == 0, answer.stderr
        return answer.stdout.strip()

    assert "running: started, scene 2 of 5, 34 %, about 1 min 12 s left" in status("running")
    waiting = status("waiting")
    found = re.search(r"waiting: queued, priority normal, done in about (\d+) min (\d+) s", waiting)
    assert found, waiting
    assert int(found.group(1)) * 60 + int(found.group(2)) >= 72   # after the running job's 72 s
