"""Templates and rows: placeholders filled from variables, the errors that name field and placeholder,
values that stay text, CSV and JSON rows, and the stock defaults given to each scene."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from daemon_helpers import ROOT
from jobmodel.batch_rows import MAX_BATCH_ROWS, check_rows, rows_from_csv
from jobmodel.errors import JobInvalid
from jobmodel.templates import expand_job
from protovideo.pipeline.jobcheck import JobChecker
from protovideo.runtime.settings import load_settings


@pytest.fixture(scope="module")
def checker():
    return JobChecker(load_settings({"PEXELS_API_KEY": "k1", "PIXABAY_API_KEY": "k2"}, read_files=False))


def scene(**fields):
    return {"duration": 1, **fields}


def test_placeholders_are_filled_everywhere_in_strings(checker):
    job = checker.parse({"variables": {"city": "Oslo", "n": 3, "yes": True},
                         "output_filename": "{{city}}-{{n}}.mp4",
                         "scenes": [scene(text={"content": "{{ city }} in {{n}} {{yes}}"}, narration_text="{{city}}!",
                                          image="https://example.com/{{city}}.png")]})
    assert job.output_filename == "Oslo-3.mp4"
    assert job.scenes[0].text.content == "Oslo in 3 true"
    assert job.scenes[0].narration_text == "Oslo!"
    assert job.scenes[0].image.url == "https://example.com/Oslo.png"


def test_a_missing_variable_names_the_field_and_the_placeholder(checker):
    problems = checker.problems({"variables": {"city": "Oslo"},
                                 "scenes": [scene(), scene(text={"content": "Hi {{cty}}"}, narration_text="{{who}}")]})
    assert problems == [
        {"field": "scenes[1].text.content", "message": "placeholder {{cty}} has no value in variables; "
                                                       "did you mean 'city'?"},
        {"field": "scenes[1].narration_text", "message": "placeholder {{who}} has no value in variables "
                                                         "(variables: city)"}]
    with pytest.raises(JobInvalid) as caught:
        checker.parse({"scenes": [scene(text="{{title}}")]})
    assert caught.value.field == "scenes[0].text" and "{{title}}" in caught.value.message


def test_a_template_callback_url_passes_the_address_policy_once_filled(checker):
    job = {"variables": {"host": "127.0.0.1"}, "callback_url": "http://{{host}}:9/hook", "scenes": [scene()]}
    problems = checker.problems(job)
    assert [p["field"] for p in problems] == ["callback_url"] and "loopback" in problems[0]["message"]
    with pytest.raises(JobInvalid) as caught:
        checker.parse(job, callback=True)
    assert caught.value.field == "callback_url"


def test_values_are_text_never_code_nor_more_placeholders(checker):
    job = checker.parse({"variables": {"a": "{{b}}", "b": "B", "c": "__import__('os')"},
                         "scenes": [scene(text="{{a}} {{c}}")]})
    assert job.scenes[0].text.content == "{{b}} __import__('os')"      # filled once, nothing evaluated
    problems = checker.problems({"variables": {"x": 1}, "scenes": [scene(text="{{ x + 1 }}")]})
    assert problems[0]["field"] == "scenes[0].text" and "no expressions" in problems[0]["message"]
    problems = checker.problems({"variables": {"bad name": "1", "obj": {"a": 1}, "none": None},
                                 "scenes": [scene()]})
    assert [p["field"] for p in problems] == ["variables.bad name", "variables.obj", "variables.none"]
    assert checker.problems({"variables": [1], "scenes": [scene()]})[0]["field"] == "variables"


def test_a_job_without_placeholders_passes_untouched():
    data = {"scenes": [scene(text="plain {not a placeholder}")]}
    assert expand_job(data) == (data, [])


def test_csv_and_json_rows():
    assert rows_from_csv('city,fact\nOslo,"cold, wet"\n\nLima,warm\n') == [
        {"city": "Oslo", "fact": "cold, wet"}, {"city": "Lima", "fact": "warm"}]
    with pytest.raises(JobInvalid) as caught:
        rows_from_csv("city,fact\nOslo\n")
    assert caught.value.field == "rows[1]" and "1 cells" in caught.value.message
    with pytest.raises(JobInvalid) as caught:
        rows_from_csv("city,bad col\nx,y\n")
    assert "header column 2" in caught.value.message
    assert check_rows([{"n": 2, "ok": False}]) == [{"n": "2", "ok": "false"}]
    for bad, field in (([{"a": [1]}], "rows[1].a"), ([1], "rows[1]"), ([], "rows"),
                       ([{}] * (MAX_BATCH_ROWS + 1), "rows")):
        with pytest.raises(JobInvalid) as caught:
            check_rows(bad)
        assert caught.value.field == field


def test_stock_defaults_go_to_each_stock_scene(checker):
    job = checker.parse({"stock": {"provider": "pixabay", "kind": "video"},
                         "scenes": [scene(stock="waves"), scene(type="image", stock={"query": "sand"}),
                                    scene(stock={"query": "sky", "provider": "pexels", "kind": "photo"})]})
    first, second, third = (s.param("stock") for s in job.scenes)
    assert job.scenes[0].type == "video" and (first.provider, first.kind) == ("pixabay", "video")
    assert job.scenes[1].type == "image" and (second.provider, second.kind) == ("pixabay", "photo")
    assert job.scenes[2].type == "image" and (third.provider, third.kind) == ("pexels", "photo")
    problems = checker.problems({"stock": {"provider": "shutterstock"},
                                 "scenes": [scene(type="image", stock={"query": "x", "kind": "video"}),
                                            scene(type="card", stock="y"), scene(stock={"query": " "}),
                                            scene(type="video")]})
    assert [p["field"] for p in problems] == ["stock.provider", "scenes[0].stock.kind", "scenes[1].stock",
                                              "scenes[2].stock.query", "scenes[3].video"]
    assert "'video' or 'stock'" in problems[-1]["message"]
    keyless = JobChecker(load_settings({"PIXABAY_API_KEY": "k2"}, read_files=False))
    assert keyless.problems({"stock": {"provider": "pixabay"},
                             "scenes": [scene(stock="a"), scene(stock={"query": "b", "provider": "pexels"})]}) == [
        {"field": "scenes[1].stock", "message": "stock provider pexels needs an API key: set PEXELS_API_KEY"}]


def test_validate_with_rows_names_the_row(tmp_path):
    (tmp_path / "t.json").write_text(json.dumps({"scenes": [scene(text="{{title}}")]}))
    (tmp_path / "rows.json").write_text(json.dumps([{"title": "A"}, {"titel": "B"}]))
    done = subprocess.run([sys.executable, str(ROOT / "main_worker.py"), "validate", "t.json", "--rows",
                           "rows.json"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "row 2: scenes[0].text: placeholder {{title}} has no value in variables; did you mean 'titel'?" \
        in done.stderr
    assert "row 1" not in done.stderr


def test_the_json_schema_knows_stock_and_variables(checker):
    import jsonschema
    from jobmodel.schema import job_json_schema
    schema = job_json_schema()
    good = {"variables": {"city": "Oslo", "n": 2}, "stock": {"provider": "pixabay", "kind": "video"},
            "scenes": [{"stock": "waves", "duration": 1}, {"stock": {"query": "sand", "orientation": "square"},
                                                           "duration": 1}]}
    jsonschema.validate(good, schema)
    for bad in ({"stock": {"provider": "shutterstock"}, "scenes": [{"duration": 1}]},
                {"variables": {"bad name": "x"}, "scenes": [{"duration": 1}]},
                {"variables": {"x": [1]}, "scenes": [{"duration": 1}]},
                {"scenes": [{"stock": {"query": "x", "orientation": "round"}, "duration": 1}]}):
        assert list(jsonschema.Draft202012Validator(schema).iter_errors(bad)), bad
        assert checker.problems(bad), bad          # and the job model refuses the same
