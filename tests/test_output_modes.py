"""Every file a job leaves for others (video, poster, captions, report, spool records) has the
mode the process umask gives: 0644 under the usual umask 022, 0640 under systemd's UMask=0027,
so a web server that may read the video may read its captions too (mkstemp made them 0600)."""
from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from folders import folder_env

ROOT = Path(__file__).resolve().parent.parent
JOB = {"id": "modes", "video": {"width": 270, "height": 480, "fps": 12},
       "scenes": [{"narration_text": "Hello there.", "subtitle": True, "text": "Modes"}]}


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o077, 0o002])
def test_write_atomic_gives_the_umask_mode(tmp_path, umask):
    code = ("import sys; from jobmodel.files import write_atomic, write_json_atomic;"
            "write_atomic(sys.argv[1] + '/a.txt', 'x'); write_json_atomic(sys.argv[1] + '/b.json', {'a': 1})")
    subprocess.run([sys.executable, "-c", code, str(tmp_path)], cwd=ROOT, umask=umask, check=True, timeout=60)
    for name in ("a.txt", "b.json"):
        assert mode(tmp_path / name) == 0o666 & ~umask, (name, oct(mode(tmp_path / name)))
    assert json.loads((tmp_path / "b.json").read_text()) == {"a": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.json"]   # no temp file left


@pytest.mark.parametrize("umask", [0o022, 0o027])
def test_rendered_files_and_records_follow_the_umask(tmp_path, umask):
    env = {**os.environ, **folder_env(tmp_path)}
    job = tmp_path / "job.json"
    job.write_text(json.dumps(JOB))
    result = subprocess.run([sys.executable, str(ROOT / "main_worker.py"), "render", str(job), "--quiet"],
                            cwd=tmp_path, env=env, umask=umask, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    out, reports = tmp_path / "var" / "output", tmp_path / "var" / "reports"
    files = [out / "modes.mp4", out / "modes.jpg", out / "modes.srt", out / "modes.vtt", reports / "modes.json"]
    assert {p: oct(mode(p)) for p in files} == {p: oct(0o666 & ~umask) for p in files}
    # a spool record (submit writes the queued job through the same helper)
    submitted = subprocess.run([sys.executable, str(ROOT / "main_worker.py"), "submit", str(job)], cwd=tmp_path,
                               env=env, umask=umask, capture_output=True, text=True, timeout=120)
    assert submitted.returncode == 0, submitted.stderr
    queued = list((tmp_path / "var" / "spool" / "incoming").glob("*.json"))
    assert queued and all(mode(p) == 0o666 & ~umask for p in queued)
