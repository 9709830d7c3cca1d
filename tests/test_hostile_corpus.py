"""The corpus of bad and odd jobs (tests/bad_jobs/), run three ways:

1. in-process: JobChecker.read + fetch_asset of every asset + the font check,
   i.e. everything the pipeline does before it renders;
2. `python main_worker.py render JOB.json -o OUT.mp4` in a subprocess: exit
   code 2 (invalid) or 1 (failed) with a message naming the field, or 0 and a
   playable video for the merely odd ones;
3. through the daemon (`run --once` on a spool): every job ends in done/ or
   failed/ with the field named, and the daemon drains them all.

Each way also checks that no file appears outside the configured folders and
that the local listener (a refused, loopback address) gets no request.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from hostile_helpers import (ROOT, Listener, corpus_jobs, expectations, install_corpus,
                             repo_tree, tree, worker_env)
from jobmodel.errors import JobFailed, JobInvalid
from protovideo.pipeline.jobcheck import JobChecker

EXPECTED = expectations()
NAMES = [p.name for p in corpus_jobs()] + ["gen_json_too_big.json"]
EXPECTED.setdefault("gen_json_too_big.json", {"exit": 2, "field": "$", "contains": "bytes; the limit is"})


def test_corpus_is_complete():
    names = {p.name for p in corpus_jobs()}
    assert len(names) >= 30
    assert names == set(EXPECTED) - {"gen_json_too_big.json"}, "expected.json and the corpus disagree"
    assert sum(1 for e in EXPECTED.values() if e["exit"] == 0) >= 5


@pytest.fixture(scope="module")
def listener():
    with Listener("127.0.0.1") as server:
        yield server


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, listener):
    base = tmp_path_factory.mktemp("corpus")
    jobs = install_corpus(base / "jobs", f"127.0.0.1:{listener.port}", base / "outside")
    return base, jobs


def expected_for(name: str) -> dict:
    exp = dict(EXPECTED[name])
    if exp["exit"] == "font":  # refused unless the worker's fonts have the characters
        from generators.glyphs import uncovered
        data = json.loads((Path(__file__).parent / "bad_jobs" / name).read_text(encoding="utf-8"))
        exp["exit"] = 2 if uncovered(data["scenes"][0]["text"]["content"]) else 0
    return exp


def assets_of(job):
    refs = [job.music, job.global_audio_prompt]
    for scene in job.scenes:
        refs += [scene.image, scene.video, scene.narration, scene.music]
    return [ref for ref in refs if ref is not None]


def outcome_in_process(path: Path, settings, cache) -> tuple[int, str | None, str]:
    from generators.fetch import fetch_asset
    from generators.glyphs import check_job_text
    try:
        job = JobChecker(settings).read(path)
        for ref in assets_of(job):
            fetch_asset(ref, settings, cache)
        check_job_text(job)
    except JobInvalid as exc:
        return 2, exc.field, str(exc)
    except JobFailed as exc:
        return 1, exc.field, str(exc)
    return 0, None, ""


@pytest.mark.parametrize("name", NAMES)
def test_corpus_job_in_process(name, corpus, listener, make_settings, tmp_path):
    from cache import open_cache
    base, jobs = corpus
    settings = make_settings()
    before = tree(tmp_path, skip=("var",))
    code, field, message = outcome_in_process(jobs[name], settings, open_cache(settings))
    exp = expected_for(name)
    assert code == exp["exit"], f"{name}: {message}"
    if code:
        assert field == exp["field"], message
        assert message.startswith(exp["field"]) or exp["field"] == "$", message
        assert exp.get("contains", "") in message
    assert tree(tmp_path, skip=("var",)) == before
    assert listener.hits == []


def _render(job: Path, out: Path, env: dict, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "main_worker.py"), "render", str(job),
                           "-o", str(out), "--quiet"], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=300)


def _probe_video(path: Path) -> str:
    from generators.media_check import probe
    return probe(path)[1]


def test_corpus_through_render_command(corpus, listener, tmp_path):
    base, jobs = corpus
    work = tmp_path / "run"
    work.mkdir()
    env = worker_env(work)
    jobs_before = tree(base)
    repo_before = repo_tree()
    problems = []
    outs = {name: work / "var" / "output" / f"{Path(name).stem}.mp4" for name in NAMES}
    with ThreadPoolExecutor(max_workers=2) as pool:  # two at a time: the machine has 2 cores
        results = dict(zip(NAMES, pool.map(lambda n: _render(jobs[n], outs[n], env, work), NAMES)))
    for name in NAMES:
        out, result = outs[name], results[name]
        exp = expected_for(name)
        said = result.stderr.strip().splitlines()[-1] if result.stderr.strip() else ""
        if result.returncode != exp["exit"]:
            problems.append(f"{name}: exit {result.returncode}, expected {exp['exit']}: "
                            f"{result.stderr[-600:]}")
        elif exp["exit"]:
            if exp["field"] != "$" and exp["field"] not in said or exp.get("contains", "") not in said:
                problems.append(f"{name}: message does not name {exp['field']!r} / "
                                f"{exp.get('contains')!r}: {said}")
            if out.exists():
                problems.append(f"{name}: failed but left {out}")
        else:
            info = _probe_video(out) if out.exists() else "missing"
            if "Video: h264" not in info or "160x284" not in info:
                problems.append(f"{name}: output is not a 160x284 H.264 video: {info[-300:]}")
    assert not problems, "\n".join(problems)
    assert listener.hits == []
    # nothing outside the configured folders: the job folder, the repo and TMPDIR untouched
    assert tree(base) == jobs_before
    assert repo_tree() == repo_before
    assert tree(work, skip=("var",)) == set()  # nothing beside var/, the system TMPDIR left empty
    outputs = sorted(p.name for p in (work / "var" / "output").iterdir())
    # videos and the files beside them (captions, poster, provenance manifest); no partial files
    assert all(name.endswith((".mp4", ".srt", ".vtt", ".jpg", ".manifest.json")) and not name.startswith(".")
               for name in outputs), outputs


def test_corpus_through_daemon(corpus, listener, tmp_path):
    base, jobs = corpus
    work = tmp_path / "run"
    work.mkdir()
    assets = work / "assets"
    # spool jobs resolve relative paths against ASSET_ROOT: give it the corpus assets
    shutil.copytree(base / "jobs", assets, symlinks=True)
    env = worker_env(work, MAX_ATTEMPTS="1")
    incoming = work / "var" / "spool" / "incoming"
    incoming.mkdir(parents=True)
    chosen = ["not_json.json", "path_dotdot.json", "symlink_leading_out.json", "image_is_text.json",
              "image_bomb.json", "video_truncated.json", "url_loopback.json", "url_metadata.json",
              "bad_job_id.json", "odd_output_filename_path.json", "odd_unicode_title.json"]
    for index, name in enumerate(chosen):
        shutil.copyfile(assets / name, incoming / f"job-{index:02d}.json")
    repo_before = repo_tree()
    result = subprocess.run([sys.executable, str(ROOT / "main_worker.py"), "run", "--once"],
                            env=env, cwd=work, capture_output=True, text=True, timeout=400)
    assert result.returncode == 1, result.stderr[-2000:]   # SPEC: 1 when any job it took failed
    assert "Traceback" not in result.stderr
    spool = work / "var" / "spool"
    assert list((spool / "incoming").iterdir()) == []
    assert list((spool / "processing").iterdir()) == [] if (spool / "processing").exists() else True
    failed = {p.name: json.loads(p.read_text()) for p in (spool / "failed").glob("*.json")}
    done = {p.name: json.loads(p.read_text()) for p in (spool / "done").glob("*.json")}
    assert len(failed) + len(done) == len(chosen), (sorted(failed), sorted(done))
    for index, name in enumerate(chosen):
        record_name = f"job-{index:02d}.json"
        exp = EXPECTED[name]
        if exp["exit"] == 0:
            assert record_name in done, f"{name} should render: {failed.get(record_name)}"
            continue
        assert record_name in failed, f"{name} should fail: {done.get(record_name)}"
        error = failed[record_name]["error"]
        assert error["type"] == ("JobInvalid" if exp["exit"] == 2 else "JobFailed"), (name, error)
        assert error.get("field") == exp["field"], (name, error)
        assert exp.get("contains", "") in error["message"], (name, error)
        assert failed[record_name]["attempts"] == 1, (name, failed[record_name])
    outputs = sorted(p.name for p in (work / "var" / "output").iterdir())
    assert "vil_name_rm_-rf.mp4" in outputs, outputs  # output_filename "../../../tmp/évil name;rm -rf.mp4"
    for record in done.values():
        assert Path(record["output"]).parent == work / "var" / "output", record
    reports = list((work / "var" / "reports").iterdir())
    assert reports and all(p.suffix == ".json" for p in reports)
    assert listener.hits == []
    assert repo_tree() == repo_before
    assert list((work / "systmp").iterdir()) == []
    leftovers = tree(work, skip=("var", "assets", "systmp"))
    assert leftovers == set(), leftovers


def test_private_url_renders_when_allowed(corpus, listener, tmp_path):
    """The same loopback job renders once ALLOW_PRIVATE_URLS is on: the listener's PNG is used."""
    base, jobs = corpus
    work = tmp_path / "run"
    work.mkdir()
    out = work / "var" / "output" / "allowed.mp4"
    before = len(listener.hits)
    result = _render(jobs["url_loopback.json"], out, worker_env(work, ALLOW_PRIVATE_URLS="true"), work)
    assert result.returncode == 0, result.stderr[-1500:]
    assert listener.hits[before:] == ["/pic.png"]
    assert "160x284" in _probe_video(out)
    listener.hits[before:] = []  # the other tests count refused requests only


def test_daemon_keeps_running_after_bad_jobs(corpus, listener, tmp_path):
    """A long-running daemon takes bad jobs one after another, records each, and still
    renders the good job dropped after them; it stops cleanly on SIGTERM."""
    import signal
    import time
    base, jobs = corpus
    work = tmp_path / "run"
    work.mkdir()
    shutil.copytree(base / "jobs", work / "assets", symlinks=True)
    env = worker_env(work, MAX_ATTEMPTS="1")
    spool = work / "var" / "spool"
    (spool / "incoming").mkdir(parents=True)
    proc = subprocess.Popen([sys.executable, str(ROOT / "main_worker.py"), "run"], env=env, cwd=work,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        bad = ["deep_nesting.json", "not_utf8.json", "url_decimal_ip.json", "image_corrupt.json",
               "path_absolute_outside.json", "gen_json_too_big.json"]
        for index, name in enumerate(bad):
            tmp = spool / f".bad-{index}.tmp"
            shutil.copyfile(jobs[name], tmp)
            os.replace(tmp, spool / "incoming" / f"bad-{index}.json")
        good = {"id": "good-after-bad", "video": {"width": 160, "height": 284, "fps": 12},
                "scenes": [{"duration": 1, "image": "ok.png", "motion": "none"}]}
        (spool / ".good.tmp").write_text(json.dumps(good))
        os.replace(spool / ".good.tmp", spool / "incoming" / "good-after-bad.json")
        deadline = time.monotonic() + 240
        while not (spool / "done" / "good-after-bad.json").exists():
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
            assert time.monotonic() < deadline, "the good job was not rendered"
            time.sleep(0.2)
        assert proc.poll() is None  # still running, waiting for more work
        failed = sorted(p.name for p in (spool / "failed").glob("*.json"))
        assert failed == [f"bad-{i}.json" for i in range(len(bad))]
        for i, name in enumerate(bad):
            record = json.loads((spool / "failed" / f"bad-{i}.json").read_text())
            assert record["error"].get("field") == EXPECTED[name]["field"], record["error"]
        done = json.loads((spool / "done" / "good-after-bad.json").read_text())
        assert Path(done["output"]).parent == work / "var" / "output"
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=120)
    assert code == 0
    assert listener.hits == []
    assert tree(work, skip=("var", "assets")) == set()


def test_validate_refuses_what_render_refuses(corpus, listener, make_settings):
    """`validate` (JobChecker.problems) against everything the pipeline does before it renders
    (the in-process way above): a job the pipeline refuses has a problem on the same field in
    validate's answer, and validate passes every job the pipeline takes. Validate downloads nothing."""
    from cache import open_cache
    base, jobs = corpus
    settings = make_settings()
    checker, cache = JobChecker(settings), open_cache(settings)
    disagree = []
    for name in NAMES:
        code, field, message = outcome_in_process(jobs[name], settings, cache)
        problems = checker.file_problems(jobs[name])
        fields = [p["field"] for p in problems]
        if (code == 0) != (not problems) or (code and field not in fields):
            disagree.append((name, code, field, message, problems))
    assert not disagree, disagree
    assert listener.hits == []
