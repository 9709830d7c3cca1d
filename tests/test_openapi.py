"""The OpenAPI description is complete and true: every route has typed answers (and a typed body
where it takes one), and the real server's answers validate against what it declares.

One real `main_worker.py serve` process; the check is the `jsonschema` package (an independent
validator), resolving `$ref`s against the description's own components.
"""
from __future__ import annotations

import io

import jsonschema
import pytest
import requests

from api_helpers import ApiProcess

TOKEN = "openapi-test-token-0815"
BODYLESS_POSTS = {"/v1/logout", "/v1/jobs/{job_id}/retry"}   # POST routes that read no body


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    server = ApiProcess(tmp_path_factory.mktemp("openapi"), "serve", token=TOKEN)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def described(api):
    answer = requests.get(api.url + "/openapi.json", timeout=10)
    assert answer.status_code == 200
    return answer.json()


def _typed(schema: dict | None) -> bool:
    """A schema that says something: a $ref, a type, or properties (not {} and not missing)."""
    return bool(schema) and any(key in schema for key in ("$ref", "type", "properties", "anyOf", "oneOf"))


def test_every_route_has_typed_answers_and_bodies(described):
    untyped, no_body, with_422, no_401 = [], [], [], []
    for path, methods in described["paths"].items():
        for method, op in methods.items():
            answers = op["responses"]
            if "422" in answers:
                with_422.append((method, path))
            for status, answer in answers.items():
                if status.startswith("3"):
                    continue   # a redirect has no body
                content = answer.get("content") or {}
                if not content or not all(_typed(media.get("schema")) for media in content.values()):
                    untyped.append((method, path, status))
            if not any(s.startswith("2") for s in answers):
                untyped.append((method, path, "no 2xx"))
            body = op.get("requestBody")
            if method == "post" and path not in BODYLESS_POSTS:
                content = (body or {}).get("content") or {}
                if not content or not all(_typed(m.get("schema")) for m in content.values()):
                    no_body.append((method, path))
            elif body is not None:
                no_body.append((method, path, "a body on a route that reads none"))
            public = path in ("/health", "/v1/login", "/v1/logout", "/v1/session", "/v1/schema/job.json")
            if not public and "401" not in answers:
                no_401.append((method, path))
    assert not untyped, untyped
    assert not no_body, no_body
    assert not with_422, with_422
    assert not no_401, no_401
    upload = described["paths"]["/v1/assets"]["post"]["requestBody"]["content"]
    assert list(upload) == ["multipart/form-data"]
    media = {path: list(op["responses"]["200"]["content"]) for path, methods in described["paths"].items()
             for op in methods.values() if "200" in op["responses"]}
    assert media["/v1/jobs/{job_id}/video"] == ["video/mp4"] and media["/v1/events"] == ["text/event-stream"]
    assert media["/v1/jobs/{job_id}/subtitles.vtt"] == ["text/vtt"]
    assert media["/v1/jobs/{job_id}/subtitles.srt"] == ["application/x-subrip"]


def _check(described: dict, method: str, route: str, answer: requests.Response) -> None:
    """`answer` has a status the route declares, and a JSON body valid under that status's schema."""
    declared = described["paths"][route][method]["responses"]
    status = str(answer.status_code)
    assert status in declared, f"{method} {route} answered {status}, declared {sorted(declared)}: {answer.text[:300]}"
    media_type = answer.headers["content-type"].split(";")[0].strip()
    content = declared[status]["content"]
    assert media_type in content, f"{method} {route} {status}: {media_type} not in {sorted(content)}"
    schema = {**content[media_type]["schema"], "components": described["components"]}
    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(answer.json()), key=str)
    assert not errors, f"{method} {route} {status}: {[e.message for e in errors][:5]}"


def _png() -> bytes:
    from PIL import Image
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 40, 90)).save(out, format="PNG")
    return out.getvalue()


def test_the_server_answers_as_it_describes(api, described):
    auth = {"Authorization": f"Bearer {TOKEN}"}
    url = api.url

    def get(route, path=None, **kw):
        _check(described, "get", route, requests.get(url + (path or route), headers=auth, timeout=30, **kw))

    for route in ("/health", "/v1/session", "/v1/queue", "/v1/system", "/v1/workers", "/v1/schema/job.json"):
        get(route)
    _check(described, "get", "/v1/queue", requests.get(url + "/v1/queue", timeout=10))          # 401
    _check(described, "post", "/v1/login", requests.post(url + "/v1/login", json={"token": "no"}, timeout=10))
    _check(described, "post", "/v1/login", requests.post(url + "/v1/login", json={"tok": 1}, timeout=10))  # 400
    created = requests.post(url + "/v1/jobs", json={"scenes": [{"duration": 1}]}, headers=auth, timeout=30)
    assert created.status_code == 201, created.text
    _check(described, "post", "/v1/jobs", created)
    job_id = created.json()["id"]
    _check(described, "post", "/v1/jobs", requests.post(url + "/v1/jobs", json={"scenes": [{"durraton": 1}]},
                                                         headers=auth, timeout=30))      # 400 every problem
    _check(described, "post", "/v1/validate", requests.post(url + "/v1/validate", json={"scenes": []},
                                                             headers=auth, timeout=30))
    get("/v1/jobs")
    get("/v1/jobs", params={"cursor": "not-a-cursor"})
    get("/v1/jobs", params={"limit": 0})
    get("/v1/jobs/{job_id}", f"/v1/jobs/{job_id}")
    get("/v1/jobs/{job_id}", "/v1/jobs/no-such-job")
    get("/v1/jobs/{job_id}/video", f"/v1/jobs/{job_id}/video")            # not finished: 404
    get("/v1/jobs/{job_id}/report", "/v1/jobs/no-such-job/report")
    get("/task-status/{task_id}", f"/task-status/{job_id}")
    get("/task-status/{task_id}", "/task-status/no-such-task")
    get("/v1/batches/{batch_id}", "/v1/batches/no-such-batch")
    cancelled = requests.delete(url + f"/v1/jobs/{job_id}", headers=auth, timeout=30)
    _check(described, "delete", "/v1/jobs/{job_id}", cancelled)
    _check(described, "delete", "/v1/jobs/{job_id}", requests.delete(url + f"/v1/jobs/{job_id}", headers=auth,
                                                                      timeout=30))   # 409 once ended
    _check(described, "post", "/v1/jobs/{job_id}/retry",
           requests.post(url + f"/v1/jobs/{job_id}/retry", headers=auth, timeout=30))
    _check(described, "post", "/v1/batches", requests.post(url + "/v1/batches", json={"rows": []},
                                                            headers=auth, timeout=30))    # 400 every problem
    uploaded = requests.post(url + "/v1/assets", files={"file": ("red.png", _png(), "image/png")},
                             headers=auth, timeout=30)
    assert uploaded.status_code == 201, uploaded.text
    _check(described, "post", "/v1/assets", uploaded)
    _check(described, "post", "/v1/assets", requests.post(url + "/v1/assets", files={"file": ("x.png", b"", "image/png")},
                                                           headers=auth, timeout=30))   # 400 empty
    _check(described, "post", "/v1/logout", requests.post(url + "/v1/logout", timeout=10))
