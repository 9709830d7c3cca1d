"""The job API server itself: greeting, dashboard page, health, docs, auth, bind policy, body limit.

Each test starts the real `main_worker.py serve` in its own process on a free port.
"""
from __future__ import annotations

import subprocess
import sys

import pytest
import requests

from api_helpers import ApiProcess, free_port
from daemon_helpers import ROOT, worker_env

TOKEN = "s3cret-test-token-4711"


@pytest.fixture
def api(tmp_path):
    server = ApiProcess(tmp_path, "serve", token=TOKEN)
    yield server
    server.stop()


def test_greeting_for_clients_and_page_for_browsers(api):
    answer = requests.get(api.url + "/", timeout=10)
    assert answer.status_code == 200
    assert "message" in answer.json() and "/generate" in str(answer.json())
    page = requests.get(api.url + "/", headers={"Accept": "text/html,application/xhtml+xml"}, timeout=10)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "<html" in page.text.lower()


def test_health_docs_and_openapi_need_no_token(api):
    health = requests.get(api.url + "/health", timeout=10)
    assert health.status_code == 200 and health.json()["taking_jobs"] is True
    assert health.json()["memory"]["rss_mb"] > 0
    schema = requests.get(api.url + "/openapi.json", timeout=10).json()
    for path in ("/v1/queue", "/health", "/v1/jobs", "/v1/jobs/{job_id}", "/v1/jobs/{job_id}/video",
                 "/v1/assets", "/v1/validate", "/generate", "/generate-task", "/download/{filename}"):
        assert path in schema["paths"], path
    docs = requests.get(api.url + "/docs", timeout=10)
    assert docs.status_code == 200 and "/v1/queue" in docs.text
    assert "cdn" not in docs.text.lower() and "<script" not in docs.text.lower()


def test_protected_routes_answer_401_without_the_token(api):
    for path in ("/v1/queue", "/v1/system", "/metrics"):
        bare = requests.get(api.url + path, timeout=10)
        assert bare.status_code == 401, path
        assert "API_TOKEN" in bare.json()["detail"]
        wrong = requests.get(api.url + path, headers={"Authorization": "Bearer nope"}, timeout=10)
        assert wrong.status_code == 401, path
    assert requests.get(api.url + "/v1/queue", headers={"Authorization": f"Bearer {TOKEN}"},
                        timeout=10).status_code == 200
    assert requests.get(api.url + "/v1/queue", headers={"x-api-key": TOKEN}, timeout=10).status_code == 200
    metrics = requests.get(api.url + "/metrics", headers={"x-api-key": TOKEN}, timeout=10)
    assert metrics.status_code == 200 and "protovideo_queue_depth" in metrics.text


def test_login_cookie_is_accepted_like_the_token(api):
    browser = requests.Session()
    assert browser.post(api.url + "/v1/login", json={"token": "wrong"}, timeout=10).status_code == 401
    answer = browser.post(api.url + "/v1/login", json={"token": TOKEN}, timeout=10)
    assert answer.status_code == 200
    cookie = answer.headers["set-cookie"]
    assert "httponly" in cookie.lower() and "samesite=strict" in cookie.lower()
    assert TOKEN not in cookie
    system = browser.get(api.url + "/v1/system", timeout=10)
    assert system.status_code == 200
    body = system.json()
    assert body["memory"]["rss_mb"] > 0 and "hit_rate" in body["cache"]
    assert body["source"]["source"] == "spool" and body["version"]
    browser.post(api.url + "/v1/logout", timeout=10)
    assert browser.get(api.url + "/v1/system", timeout=10).status_code == 401


def test_oversized_body_is_refused_with_413(api):
    big = b"{" + b" " * 3_000_000 + b"}"
    answer = requests.post(api.url + "/v1/login", data=big, headers={"Content-Type": "application/json"},
                           timeout=30)
    assert answer.status_code == 413
    assert "limit" in answer.json()["detail"]


def test_oversized_chunked_body_is_cut_off_with_413(api):
    def chunks():
        for _ in range(40):
            yield b" " * 100_000
    answer = requests.post(api.url + "/v1/jobs", data=chunks(),
                           headers={"Content-Type": "application/json", "x-api-key": TOKEN}, timeout=60)
    assert answer.status_code == 413
    assert requests.get(api.url + "/health", timeout=10).status_code == 200


def test_no_token_means_loopback_only(tmp_path):
    env = worker_env(tmp_path, API_HOST="0.0.0.0", API_PORT=free_port(), API_TOKEN="")
    done = subprocess.run([sys.executable, str(ROOT / "main_worker.py"), "serve"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "API_HOST=0.0.0.0" in done.stderr and "API_TOKEN" in done.stderr


def test_token_never_reaches_the_log(api, tmp_path):
    requests.get(api.url + "/v1/queue", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    requests.get(api.url + "/v1/queue", headers={"Authorization": "Bearer wrong-guess"}, timeout=10)
    api.stop()
    for log in (tmp_path / "worker.log", tmp_path / "api.out"):
        if log.exists():
            assert TOKEN not in log.read_text(errors="replace")


def test_a_taken_port_stops_the_start_with_its_name(api, tmp_path):
    env = worker_env(tmp_path / "second", API_HOST="127.0.0.1", API_PORT=api.port)
    (tmp_path / "second").mkdir()
    done = subprocess.run([sys.executable, str(ROOT / "main_worker.py"), "serve"], cwd=tmp_path / "second",
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert f"127.0.0.1:{api.port}" in done.stderr and "API_PORT" in done.stderr


def test_no_api_in_front_of_the_http_source(tmp_path):
    env = worker_env(tmp_path, API_PORT=free_port(), JOB_SOURCE="http", JOB_API_URL="http://127.0.0.1:9/api")
    done = subprocess.run([sys.executable, str(ROOT / "main_worker.py"), "serve"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "JOB_SOURCE=http" in done.stderr


def test_the_job_schema_is_served_and_types_the_openapi_description(api):
    import jsonschema
    schema = requests.get(api.url + "/v1/schema/job.json", timeout=10)   # no token needed
    assert schema.status_code == 200 and schema.headers["content-type"].startswith("application/schema+json")
    checker = jsonschema.Draft202012Validator(schema.json())
    assert checker.is_valid({"scenes": [{"duration": 2, "transition": "wipe_left"}], "overlays": [
        {"type": "progress_bar", "position": "bottom"}]})
    assert not checker.is_valid({"scenes": [{"duration": 2, "motion": "zoom-in"}]})
    described = requests.get(api.url + "/openapi.json", timeout=10).json()
    submit = described["paths"]["/v1/jobs"]["post"]
    body = submit["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/Job"}
    job = described["components"]["schemas"]["Job"]
    assert {"scenes", "video", "subtitles", "narration_text"} <= set(job["properties"]) and job["required"] == ["scenes"]
    assert set(submit["responses"]) >= {"201", "200", "400"}
    problems = submit["responses"]["400"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    assert described["components"]["schemas"][problems]["properties"]["errors"]["type"] == "array"
    for path in ("/v1/validate", "/generate"):
        op = described["paths"][path]["post"]
        assert op["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Job"}
    assert not [(p, m) for p, ms in described["paths"].items() for m, op in ms.items()
                if "422" in op.get("responses", {})], "this API never answers 422"
    # and the API answers as described: 400 with every problem, each with its field
    bad = {"video": {"preset": "cinema"}, "scenes": [{"durraton": 2}, {"duration": "long", "motion": "zoom-in"}],
           "music_volume": 3, "subtitles": {"style": "karoake"}}
    answer = requests.post(api.url + "/v1/jobs", json=bad, timeout=30,
                           headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 400
    fields = sorted(p["field"] for p in answer.json()["errors"])
    assert fields == ["music_volume", "scenes[0].durraton", "scenes[1].duration", "scenes[1].motion",
                      "subtitles.style", "video.preset"]
    assert not checker.is_valid(bad)
