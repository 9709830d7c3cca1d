"""`validate`, `list` and `cancel` as a user runs them (subprocesses, real spool)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from daemon_helpers import ROOT, tiny_job, worker_env


def cli(tmp_path: Path, env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "main_worker.py"), *args], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=300)


def write(tmp_path: Path, name: str, job) -> Path:
    file = tmp_path / name
    file.write_text(json.dumps(job))
    return file


def test_validate_lists_every_problem_with_its_json_path(tmp_path):
    env = worker_env(tmp_path)
    bad = {"scenes": [{"duration": -2, "motion": "spin"}, {"type": "video", "duration": 1},
                      "not a scene", {"duration": 1, "image": "../outside.png"}],
           "video": {"fps": 999, "width": 271, "height": 480}, "colour": "red",
           "priority": "urgent", "music_volume": 4}
    result = cli(tmp_path, env, "validate", str(write(tmp_path, "bad.json", bad)))
    assert result.returncode == 2
    fields = [line.strip().split(":")[0] for line in result.stderr.splitlines()[1:]]
    assert sorted(fields) == sorted([
        "colour", "video.fps", "video.width", "scenes[0].duration", "scenes[0].motion",
        "scenes[1].video", "scenes[2]", "scenes[3].image", "priority", "music_volume"])
    as_json = cli(tmp_path, env, "validate", "--json", str(tmp_path / "bad.json"))
    assert as_json.returncode == 2
    answer = json.loads(as_json.stdout)
    assert answer["valid"] is False and len(answer["errors"]) == 10
    by_field = {e["field"]: e["message"] for e in answer["errors"]}
    assert "spin" in by_field["scenes[0].motion"] and "999" in by_field["video.fps"]


def test_validate_accepts_a_good_job_and_refuses_broken_json(tmp_path):
    env = worker_env(tmp_path)
    good = cli(tmp_path, env, "validate", str(write(tmp_path, "good.json", tiny_job("fine"))))
    assert good.returncode == 0 and "valid" in good.stdout
    (tmp_path / "broken.json").write_text('{"scenes": [')
    broken = cli(tmp_path, env, "validate", str(tmp_path / "broken.json"))
    assert broken.returncode == 2 and "$: not valid JSON" in broken.stderr
    assert not (tmp_path / "var").exists()       # validate touches no folder


def test_list_and_cancel_on_the_spool(tmp_path):
    env = worker_env(tmp_path)
    missing = cli(tmp_path, env, "list")
    assert missing.returncode == 1 and "SPOOL_DIR" in missing.stderr
    assert not (tmp_path / "var").exists()       # list creates no folder
    for job_id, priority in (("first", "low"), ("second", "high"), ("third", "normal")):
        file = write(tmp_path, f"{job_id}.json", tiny_job(job_id))
        assert cli(tmp_path, env, "submit", str(file), "--priority", priority).returncode == 0
    again = cli(tmp_path, env, "submit", str(tmp_path / "first.json"))
    assert again.returncode == 0 and again.stdout.strip() == "first" and "already queued" in again.stderr
    listed = cli(tmp_path, env, "list")
    assert [line.split()[0] for line in listed.stdout.splitlines()] == ["third", "second", "first"]
    cancelled = cli(tmp_path, env, "cancel", "second")
    assert cancelled.returncode == 0 and "cancelled" in cancelled.stdout
    record = json.loads((tmp_path / "var/spool/cancelled/second.json").read_text())
    assert record["status"] == "cancelled" and record["job"]["id"] == "second"
    twice = cli(tmp_path, env, "cancel", "second")
    assert twice.returncode == 1 and "already cancelled" in twice.stderr
    assert cli(tmp_path, env, "cancel", "nobody").returncode == 1
    only = json.loads(cli(tmp_path, env, "list", "--state", "queued", "--json").stdout)
    assert [j["id"] for j in only["jobs"]] == ["third", "first"] and only["next_cursor"] is None
    page = json.loads(cli(tmp_path, env, "list", "--limit", "2", "--json").stdout)
    rest = json.loads(cli(tmp_path, env, "list", "--cursor", page["next_cursor"], "--json").stdout)
    assert [j["id"] for j in page["jobs"] + rest["jobs"]] == ["third", "second", "first"]
    status = cli(tmp_path, env, "status")
    assert "cancelled: 1" in status.stdout and "queued: 2" in status.stdout
