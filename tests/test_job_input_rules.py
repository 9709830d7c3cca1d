"""One rule for what a job may hold, at every door (issue 22): a lone surrogate ("\\ud800", which
JSON text allows and UTF-8 cannot carry) is refused naming its field, and a job already queued
holding one ends as failed with a record, never stuck in processing/; a priority is read with one
rule ("CRITICAL" and " critical" are critical, "urgent" is refused naming the field) by /v1/jobs,
?priority=, /generate, /v1/validate, the CLI and the spool and Redis sources.

The API runs as a real `serve` process; the sources against real folders and a real Redis."""
from __future__ import annotations

import json
import subprocess
import sys
import uuid

import pytest
import redis

from api_helpers import ApiProcess
from daemon_helpers import ROOT, fake_make_context, fake_render, read_json, tiny_job, worker_env
from protovideo.service.middleware.retries import Retries
from protovideo.service.sources.redis_streams import RedisSource
from protovideo.service.sources.spool import SpoolSource
from protovideo.service.worker import Worker

JSON = {"Content-Type": "application/json"}
# the escape as JSON text spells it: these are the bytes a client sends
TITLE_SURROGATE = (b'{"id": "bad-title", "video": {"width": 160, "height": 284, "fps": 12}, '
                   b'"scenes": [{"duration": 1, "text": {"content": "caf\\ud800e"}}]}')
KEY_SURROGATE = b'{"scenes": [{"duration": 1, "x\\udc00": 1}]}'
PAIR_IS_FINE = (b'{"video": {"width": 160, "height": 284, "fps": 12}, '
                b'"scenes": [{"duration": 1, "text": "smile \\ud83d\\ude00"}]}')
FIELD = "scenes[0].text.content"


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    folder = tmp_path_factory.mktemp("rules-api")
    server = ApiProcess(folder, "serve", API_GENERATE_TIMEOUT="0.5")
    server.folder = folder
    yield server
    server.stop()


def post_raw(api, path: str, body: bytes, **kw):
    return api.post(path, data=body, headers=api.headers(**JSON), **kw)


# ---------------------------------------------------------------- lone surrogates
def test_the_api_refuses_a_lone_surrogate_naming_its_field(api):
    checked = post_raw(api, "/v1/validate", TITLE_SURROGATE)
    assert checked.status_code == 200
    assert checked.json()["valid"] is False
    [problem] = checked.json()["errors"]
    assert problem["field"] == FIELD and "surrogate" in problem["message"]

    queued = post_raw(api, "/v1/jobs", TITLE_SURROGATE)
    assert queued.status_code == 400, queued.text[:300]
    assert [p["field"] for p in queued.json()["errors"]] == [FIELD]
    assert api.get("/v1/jobs/bad-title").status_code == 404          # nothing was queued

    original = post_raw(api, "/generate", TITLE_SURROGATE)
    assert original.status_code == 400 and FIELD in original.json()["detail"]

    key = post_raw(api, "/v1/jobs", KEY_SURROGATE)
    assert key.status_code == 400
    assert key.json()["errors"][0]["field"] == 'scenes[0]["x\\udc00"]'

    paired = post_raw(api, "/v1/validate", PAIR_IS_FINE)   # a pair is one character: valid
    assert paired.json() == {"valid": True, "errors": []}
    assert not list((api.folder / "spool" / "incoming").glob("*.json"))


def test_the_cli_validate_names_the_field(tmp_path):
    job = tmp_path / "job.json"
    job.write_bytes(TITLE_SURROGATE)
    done = subprocess.run([sys.executable, str(ROOT / "main_worker.py"), "validate", str(job), "--json"],
                          cwd=tmp_path, env=worker_env(tmp_path), capture_output=True, timeout=120)
    assert done.returncode == 2, done.stderr.decode()[-2000:]
    answer = json.loads(done.stdout)
    assert [p["field"] for p in answer["errors"]] == [FIELD]


def run_once(settings, source) -> None:
    worker = Worker(settings, source, render=fake_render, make_context=fake_make_context, once=True,
                    middleware=[Retries(settings.MAX_ATTEMPTS, min_backoff=0.05)])
    assert worker.run(install_signals=False) == 0


def test_a_spooled_job_holding_a_surrogate_ends_failed_never_stuck(make_settings):
    settings = make_settings(POLL_INTERVAL=0.05, MAX_ATTEMPTS=3)
    spool = settings.path("SPOOL_DIR")
    SpoolSource(settings)   # makes the folders
    (spool / "incoming" / "dropped.json").write_bytes(TITLE_SURROGATE)
    run_once(settings, SpoolSource(settings))
    record = read_json(spool / "failed" / "dropped.json")   # undecodable: named after its file
    assert record["status"] == "failed" and record["attempts"] == 1
    assert record["error"]["type"] == "JobInvalid" and record["error"]["field"] == FIELD
    assert "\\ud800" in record["job"]                      # the job as received, kept
    assert not [p for p in (spool / "processing").iterdir()]
    assert not [p for p in (spool / "incoming").iterdir()]
    assert SpoolSource(settings).status("dropped")["state"] == "failed"


@pytest.fixture
def redis_settings(make_settings, redis_url):
    prefix = f"pvtest-{uuid.uuid4().hex[:10]}"
    yield lambda **extra: make_settings(JOB_SOURCE="redis", REDIS_URL=redis_url, REDIS_KEY_PREFIX=prefix,
                                        POLL_INTERVAL=0.05, **extra)
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(f"{prefix}:*"))
    if keys:
        client.delete(*keys)
    client.close()


def test_a_redis_job_holding_a_surrogate_ends_failed_with_a_record(redis_settings):
    settings = redis_settings(MAX_ATTEMPTS=3)
    source = RedisSource(settings)
    source.submit(tiny_job("plain"))                       # the streams and groups exist
    source.r.xadd(source._stream("normal"), {"id": "bad-title", "job": TITLE_SURROGATE.decode()})
    source.r.hset(source._job_key("bad-title"), mapping={"state": "queued", "priority": "normal"})
    run_once(settings, RedisSource(settings))
    info = source.get("bad-title")
    assert info.state.value == "failed" and info.record["error"]["field"] == FIELD
    assert source.get("plain").state.value == "finished"
    assert source.status()["started"] == 0                 # nothing left pending


# ---------------------------------------------------------------- priorities
SPELLINGS = ["CRITICAL", " critical", "Critical ", "\tcritical\n"]


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_every_route_reads_a_priority_by_one_rule(api, spelling):
    tag = uuid.uuid4().hex[:8]
    in_body = api.post("/v1/jobs", json=tiny_job(f"body-{tag}", priority=spelling))
    assert in_body.status_code == 201, in_body.text[:300]
    by_query = api.post("/v1/jobs", json=tiny_job(f"query-{tag}"), params={"priority": spelling})
    assert by_query.status_code == 201, by_query.text[:300]
    original = api.post("/generate", json={**tiny_job(f"gen-{tag}", priority=spelling), "id": None})
    assert original.status_code == 504          # nobody renders here; API_GENERATE_TIMEOUT is 0.5 s
    generated = original.json()["job_id"]
    for job_id in (f"body-{tag}", f"query-{tag}", generated):
        assert api.get(f"/v1/jobs/{job_id}").json()["priority"] == "critical", job_id
    listed = api.get("/v1/jobs", params={"priority": spelling, "limit": 1000}).json()["jobs"]
    assert {f"body-{tag}", f"query-{tag}", generated} <= {j["id"] for j in listed}
    assert {j["priority"] for j in listed} == {"critical"}
    assert post_raw(api, "/v1/validate", json.dumps(tiny_job("v", priority=spelling)).encode()).json() == \
        {"valid": True, "errors": []}


def test_a_priority_no_spelling_of_a_name_is_refused_naming_the_field(api):
    for answer in (api.post("/v1/jobs", json=tiny_job("urgent-1", priority="urgent")),
                   api.post("/v1/jobs", json=tiny_job("urgent-2"), params={"priority": "urgent"}),
                   api.post("/v1/jobs", json=tiny_job("urgent-3", priority="crit ical"))):
        assert answer.status_code == 400
        assert [p["field"] for p in answer.json()["errors"]] == ["priority"]
    checked = api.post("/v1/validate", json=tiny_job("urgent-4", priority=7)).json()
    assert checked["valid"] is False and checked["errors"][0]["field"] == "priority"
    original = api.post("/generate", json=tiny_job("urgent-5", priority="urgent"))
    assert original.status_code == 400 and "priority" in original.json()["detail"]
    assert api.get("/v1/jobs", params={"priority": "urgent"}).status_code == 400


def test_the_spool_reads_a_priority_by_the_same_rule(make_settings):
    settings = make_settings(POLL_INTERVAL=0.05)
    source = SpoolSource(settings)
    source.submit(tiny_job("plain"))
    source.submit(tiny_job("shouted", priority="CRITICAL"))
    source.submit(tiny_job("overridden"), priority=" High ")
    (settings.path("SPOOL_DIR") / "incoming" / "dropped.json").write_text(
        json.dumps(tiny_job("dropped", priority=" critical")))
    assert {j.id: j.priority for j in source.list_jobs()[0]} == \
        {"plain": "normal", "shouted": "critical", "overridden": "high", "dropped": "critical"}
    assert source.status()["queued"] == {"critical": 2, "high": 1, "normal": 1, "low": 0}
    order = [source.claim() for _ in range(4)]
    assert [c.priority for c in order] == ["critical", "critical", "high", "normal"]
    assert order[-1].id == "plain"


def test_redis_reads_a_priority_by_the_same_rule(redis_settings):
    settings = redis_settings()
    source = RedisSource(settings)
    source.submit(tiny_job("plain"))
    source.submit(tiny_job("shouted", priority="CRITICAL"))
    source.submit(tiny_job("overridden"), priority=" High ")
    assert {j.id: j.priority for j in source.list_jobs(priority="CRITICAL")[0]} == {"shouted": "critical"}
    assert source.status()["queued"] == {"critical": 1, "high": 1, "normal": 1, "low": 0}
    assert [source.claim().id for _ in range(3)] == ["shouted", "overridden", "plain"]


def test_the_cli_reads_priorities_by_the_same_rule(tmp_path, make_settings):
    job = tmp_path / "job.json"
    job.write_text(json.dumps(tiny_job("from-cli")))
    main = [sys.executable, str(ROOT / "main_worker.py")]
    done = subprocess.run([*main, "submit", str(job), "--priority", " HIGH"], cwd=tmp_path,
                          env=worker_env(tmp_path), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert SpoolSource(make_settings()).get("from-cli").priority == "high"
    refused = subprocess.run([*main, "submit", str(job), "--priority", "urgent"], cwd=tmp_path,
                             env=worker_env(tmp_path), capture_output=True, text=True, timeout=120)
    assert refused.returncode == 2 and "--priority" in refused.stderr
