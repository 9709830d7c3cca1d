"""What a browser may do with the job API (issue 22), against the real `serve` in its own process:
foreign origins and non-JSON bodies refused, a forged Host refused, security headers on every
answer, sessions that logout ends, failed logins throttled. With and without API_TOKEN."""
from __future__ import annotations

import json
import socket

import pytest
import requests

from api_helpers import ApiProcess
from daemon_helpers import tiny_job

TOKEN = "browser-rules-token-93d1"
ATTACKER = "http://127.0.0.1:9"          # another port of the same host: same-site, not same-origin


@pytest.fixture(params=["token", "no-token"])
def api(request, tmp_path):
    server = ApiProcess(tmp_path, "serve", token=TOKEN if request.param == "token" else "",
                        API_ALLOWED_ORIGINS="http://127.0.0.1:3000")
    server.folder = tmp_path
    yield server
    server.stop()


def queued_count(api) -> int:
    return sum(api.get("/v1/queue").json()["queued"].values())


def test_foreign_pages_and_non_json_bodies_queue_nothing(api):
    job = json.dumps(tiny_job("forged"))
    attempts = [
        ({"Content-Type": "text/plain"}, 415),                                   # the classic CSRF form
        ({"Content-Type": "application/x-www-form-urlencoded"}, 415),
        ({"Content-Type": "multipart/form-data; boundary=x"}, 415),
        ({}, 415),                                                               # a body, no type
        ({"Content-Type": "application/json", "Origin": ATTACKER}, 403),
        ({"Content-Type": "application/json", "Origin": "null"}, 403),           # sandboxed frame
        ({"Content-Type": "application/json", "Origin": "http://evil.example"}, 403),
        ({"Content-Type": "application/json", "Sec-Fetch-Site": "cross-site"}, 403),
        ({"Content-Type": "application/json", "Sec-Fetch-Site": "same-site"}, 403),   # another port
        ({"Content-Type": "text/plain", "Origin": ATTACKER, "Sec-Fetch-Site": "same-site"}, 403),
    ]
    for extra, status in attempts:
        for path in ("/v1/jobs", "/generate-task", "/v1/validate"):
            answer = api.post(path, data=job.encode(), headers=api.headers(**extra), timeout=30)
            assert answer.status_code == status, (path, extra, answer.text)
            assert "detail" in answer.json()
    assert api.delete("/v1/jobs/forged", headers=api.headers(Origin=ATTACKER)).status_code == 403
    assert api.post("/v1/login", data=json.dumps({"token": TOKEN}),
                    headers={"Content-Type": "text/plain"}).status_code == 415
    assert queued_count(api) == 0
    assert not list((api.folder / "var" / "spool").rglob("forged*"))


def test_own_pages_and_trusted_origins_are_served(api):
    own = api.post("/v1/jobs", json=tiny_job("own-page"),
                   headers=api.headers(Origin=api.url, **{"Sec-Fetch-Site": "same-origin"}))
    assert own.status_code == 201, own.text
    trusted = api.post("/v1/validate", json=tiny_job("t"),
                       headers=api.headers(Origin="http://127.0.0.1:3000", **{"Sec-Fetch-Site": "same-site"}))
    assert trusted.status_code == 200 and trusted.json()["valid"] is True
    curl = api.post("/v1/jobs", json=tiny_job("curl-like"))          # no Origin, no Sec-Fetch-*: no browser
    assert curl.status_code == 201
    charset = api.post("/v1/validate", data=json.dumps(tiny_job("c")).encode(),
                       headers=api.headers(**{"Content-Type": "application/json; charset=utf-8"}))
    assert charset.status_code == 200
    assert api.delete("/v1/jobs/own-page").status_code == 200     # no body, no Content-Type needed
    assert queued_count(api) == 1


def raw_get(port: int, host: str, path: str = "/health") -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return data


def test_a_forged_host_is_refused(api):
    for host in ("evil.example", f"evil.example:{api.port}", "127.0.0.1.nip.io", "localhost.evil.example"):
        assert raw_get(api.port, host).startswith(b"HTTP/1.1 400"), host
        assert raw_get(api.port, host, "/v1/jobs").startswith(b"HTTP/1.1 400"), host
    for host in (f"127.0.0.1:{api.port}", f"localhost:{api.port}", "[::1]:8000", "LOCALHOST"):
        assert raw_get(api.port, host).startswith(b"HTTP/1.1 200"), host


def test_the_public_url_host_is_served(tmp_path):
    server = ApiProcess(tmp_path, "serve", API_PUBLIC_URL="https://videos.example.com/")
    try:
        assert raw_get(server.port, "videos.example.com").startswith(b"HTTP/1.1 200")
        assert raw_get(server.port, "other.example.com").startswith(b"HTTP/1.1 400")
        behind_proxy = server.post("/v1/validate", json=tiny_job("p"),
                                   headers={"Origin": "https://videos.example.com", "Sec-Fetch-Site": "same-origin"})
        assert behind_proxy.status_code == 200
    finally:
        server.stop()


def test_security_headers_on_every_answer(api):
    answers = [requests.get(api.url + "/", headers={"Accept": "text/html"}, timeout=30),
               requests.get(api.url + "/health", timeout=30),
               requests.get(api.url + "/static/app.js", timeout=30),
               api.get("/v1/jobs/nope"),
               api.post("/v1/jobs", data=b"x", headers=api.headers(**{"Content-Type": "text/plain"})),
               requests.get(api.url + "/health", headers={"Host": "evil.example"}, timeout=30)]
    for answer in answers:
        csp = answer.headers.get("Content-Security-Policy", "")
        assert "frame-ancestors 'none'" in csp and "default-src 'self'" in csp, answer.url
        assert "script-src 'self'" in csp and "'unsafe-inline'" not in csp
        assert answer.headers.get("X-Frame-Options") == "DENY"
        assert answer.headers.get("X-Content-Type-Options") == "nosniff"
        assert answer.headers.get("Referrer-Policy") in ("no-referrer", "same-origin")
    page = answers[0].text.lower()
    assert "http-equiv" not in page        # the policy is a real header now, not a <meta> tag


@pytest.fixture
def keyed(tmp_path):
    server = ApiProcess(tmp_path, "serve", token=TOKEN)
    yield server
    server.stop()


def test_each_login_is_its_own_session_and_logout_ends_it(keyed):
    first, second = requests.Session(), requests.Session()
    for browser in (first, second):
        assert browser.post(keyed.url + "/v1/login", json={"token": TOKEN}, timeout=30).status_code == 200
    one, two = first.cookies.get("protovideo_session"), second.cookies.get("protovideo_session")
    assert one and two and one != two and TOKEN not in one
    cookie = first.post(keyed.url + "/v1/login", json={"token": TOKEN}, timeout=30).headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "max-age=43200" in cookie
    old = first.cookies.get("protovideo_session")
    assert requests.get(keyed.url + "/v1/queue", cookies={"protovideo_session": old}, timeout=30).status_code == 200
    assert first.post(keyed.url + "/v1/logout", timeout=30).status_code == 200
    # the old cookie, kept by an attacker or a careless browser, opens nothing any more
    assert requests.get(keyed.url + "/v1/queue", cookies={"protovideo_session": old}, timeout=30).status_code == 401
    assert second.get(keyed.url + "/v1/queue", timeout=30).status_code == 200      # the other one lives
    forged = requests.get(keyed.url + "/v1/queue", cookies={"protovideo_session": "A" * 43}, timeout=30)
    assert forged.status_code == 401


def test_failed_logins_are_throttled_with_retry_after(keyed):
    answers = [requests.post(keyed.url + "/v1/login", json={"token": f"guess-{i}"}, timeout=30)
               for i in range(8)]
    codes = [a.status_code for a in answers]
    assert codes[:5] == [401] * 5 and set(codes[5:]) == {429}, codes
    retry_after = int(answers[-1].headers["Retry-After"])
    assert 1 <= retry_after <= 60
    # the right token does not get through the throttle either (no guessing around it)
    assert requests.post(keyed.url + "/v1/login", json={"token": TOKEN}, timeout=30).status_code == 429
    assert requests.get(keyed.url + "/v1/queue", headers=keyed.headers(), timeout=30).status_code == 200


def test_sessions_on_redis_are_shared_by_every_api_process(tmp_path, redis_url):
    import hashlib
    import uuid

    import redis
    prefix = f"pvsess-{uuid.uuid4().hex[:8]}"
    shared = {"JOB_SOURCE": "redis", "REDIS_URL": redis_url, "REDIS_KEY_PREFIX": prefix}
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = ApiProcess(tmp_path / "a", "serve", token=TOKEN, **shared)
    second = ApiProcess(tmp_path / "b", "serve", token=TOKEN, **shared)
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        browser = requests.Session()
        assert browser.post(first.url + "/v1/login", json={"token": TOKEN}, timeout=30).status_code == 200
        session_id = browser.cookies.get("protovideo_session")
        cookie = {"protovideo_session": session_id}
        assert requests.get(second.url + "/v1/queue", cookies=cookie, timeout=30).status_code == 200
        key = f"{prefix}:session:{hashlib.sha256(session_id.encode()).hexdigest()}"
        assert 0 < client.ttl(key) <= 12 * 3600
        assert not [k for k in client.scan_iter(f"{prefix}:*") if session_id in k]   # only its digest
        assert requests.post(second.url + "/v1/logout", cookies=cookie, timeout=30).status_code == 200
        assert requests.get(first.url + "/v1/queue", cookies=cookie, timeout=30).status_code == 401
        assert not client.exists(key)
    finally:
        first.stop()
        second.stop()
        keys = list(client.scan_iter(f"{prefix}:*"))
        if keys:
            client.delete(*keys)
        client.close()
