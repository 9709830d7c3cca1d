"""The one job checker (protovideo.pipeline.jobcheck.JobChecker): the settings' defaults, the
callback policy, job files; and the CLI, the job API and the worker admitting through it alike."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from daemon_helpers import fake_make_context, fake_render, tiny_job
from folders import folder_env
from jobmodel.errors import JobInvalid
from protovideo.cli.main import main
from protovideo.pipeline.jobcheck import JobChecker
from protovideo.runtime.settings import SPECS
from protovideo.service.api.validation import job_problems
from protovideo.service.sources.spool import SpoolSource
from protovideo.service.worker import Worker

BAD = Path(__file__).resolve().parent / "bad_jobs"


def test_the_settings_give_what_a_job_leaves_out(make_settings, tmp_path):
    (tmp_path / "assets").mkdir()
    (tmp_path / "assets" / "a.png").write_bytes(b"not checked here")
    settings = make_settings(IMAGE_PROVIDER="openai", TTS_PROVIDER="chatterbox",
                             ASSET_ROOT=str(tmp_path / "assets"))
    data = {"image": {"steps": 2}, "scenes": [{"duration": 1, "image": "a.png", "image_prompt": "x"}]}
    job = JobChecker(settings).parse(data)
    assert job.image.provider == "openai" and job.voice.provider == "chatterbox"
    assert job.scenes[0].image.path == (tmp_path / "assets" / "a.png").resolve()
    stock = JobChecker(make_settings(ASSET_ROOT=str(tmp_path / "assets"))).parse(data)
    assert (stock.image.provider, stock.voice.provider) == ("simple", "piper")


def test_a_refused_callback_host_is_a_problem_at_submit_not_at_claim(make_settings):
    checker = JobChecker(make_settings())
    for name in ("callback_url", "callbackUrl", "webhook_url"):
        data = tiny_job("cb", **{name: "http://127.0.0.1:9/hook"})
        problems = checker.problems(data)
        assert [p["field"] for p in problems] == [name] and "loopback" in problems[0]["message"]
        with pytest.raises(JobInvalid) as caught:
            checker.parse(data, callback=True)          # submit
        assert caught.value.field == name
        assert checker.parse(data).callback_url          # the worker renders it; delivery refuses later
    allowed = JobChecker(make_settings(ALLOW_PRIVATE_URLS="true"))
    assert allowed.problems(tiny_job("cb", callback_url="http://127.0.0.1:9/hook")) == []
    # a malformed URL is the job model's problem, named once
    malformed = checker.problems(tiny_job("cb", callback_url="ftp://example.org/x"))
    assert [p["field"] for p in malformed] == ["callback_url"]


def test_job_files_resolve_against_their_folder_and_unreadable_ones_are_problems(make_settings, tmp_path):
    folder = tmp_path / "jobs"
    folder.mkdir()
    from PIL import Image
    Image.new("RGB", (8, 8), "red").save(folder / "pic.png")   # a real picture: validate reads its bytes
    (folder / "job.json").write_text(json.dumps({"scenes": [{"duration": 1, "image": "pic.png"}]}))
    checker = JobChecker(make_settings())
    assert checker.read(folder / "job.json").scenes[0].image.path == (folder / "pic.png").resolve()
    assert checker.file_problems(folder / "job.json") == []
    missing = checker.file_problems(folder / "nope.json")
    assert missing[0]["field"] == "$" and "cannot read job file" in missing[0]["message"]
    assert "not valid JSON" in checker.file_problems(BAD / "not_json.json")[0]["message"]


@pytest.mark.parametrize("name", ["missing_duration.json", "bad_color.json", "unknown_field_typo.json",
                                  "negative_duration.json", "alias_given_twice.json"])
def test_validate_the_api_and_the_worker_give_the_checkers_verdict(name, make_settings, tmp_path, capsys,
                                                                 monkeypatch):
    settings = make_settings()
    data = json.loads((BAD / name).read_text(encoding="utf-8-sig"))
    expected = JobChecker(settings).problems(data, BAD)
    assert expected
    # the `validate` command, with the same settings in its environment
    monkeypatch.chdir(tmp_path)
    for key in [k for k in os.environ if k in SPECS]:
        monkeypatch.delenv(key)
    for key, value in folder_env(tmp_path).items():
        monkeypatch.setenv(key, value)
    assert main(["validate", "--json", str(BAD / name)]) == 2
    assert json.loads(capsys.readouterr().out)["errors"] == expected
    # the job API's check (relative paths there resolve against ASSET_ROOT; these jobs have none)
    assert job_problems(data, settings) == JobChecker(settings).problems(data)
    # the worker: the first problem, in the failure record
    source = SpoolSource(settings)
    source.submit(data, base_dir=BAD)
    worker = Worker(settings, source, render=fake_render, make_context=fake_make_context,
                    middleware=[], once=True)
    worker.run(install_signals=False)
    failed = json.loads(next((settings.path("SPOOL_DIR") / "failed").glob("*.json")).read_text())
    assert failed["error"]["type"] == "JobInvalid"
    assert failed["error"]["field"] == expected[0]["field"]
