"""OpenAI-compatible images provider against a local server speaking the images API."""
from __future__ import annotations

import base64
import io
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
from PIL import Image

from generators.images import ImageRequest
from generators.images_openai import OpenAIImageProvider, api_size, create_provider
from jobmodel.errors import JobFailed, ProviderUnavailable, TransientError


def _png(color, size=(64, 96)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, "PNG")
    return out.getvalue()


class ImagesAPI:
    """A tiny images API on 127.0.0.1: scripted answers, every request recorded."""

    def __init__(self):
        self.requests: list[dict] = []
        self.script: list[tuple[int, dict | None]] = []  # answers for the next POSTs, then default
        self.mode = "b64_json"
        self.lock = threading.Lock()
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, status, body: bytes, ctype="application/json", headers=None):
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length))
                with api.lock:
                    api.requests.append({"path": self.path, "auth": self.headers.get("Authorization"),
                                         "body": body})
                    scripted = api.script.pop(0) if api.script else None
                if self.path != "/v1/images/generations":
                    return self._send(404, b'{"error": {"message": "no such route"}}')
                if scripted is not None:
                    status, payload = scripted
                    return self._send(status, json.dumps(payload).encode(), headers={"Retry-After": "0"})
                color = (200, 30, 30) if "red" in body["prompt"] else (30, 30, 200)
                if api.mode == "url":
                    item = {"url": f"http://127.0.0.1:{api.port}/files/{color[0]}.png"}
                else:
                    item = {"b64_json": base64.b64encode(_png(color)).decode()}
                self._send(200, json.dumps({"created": 1, "data": [item]}).encode())

            def do_GET(self):
                with api.lock:
                    api.requests.append({"path": self.path, "auth": self.headers.get("Authorization")})
                if self.path.startswith("/files/"):
                    red = self.path.startswith("/files/200")
                    return self._send(200, _png((200, 30, 30) if red else (30, 30, 200)), "image/png")
                self._send(404, b"{}")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def api():
    server = ImagesAPI()
    yield server
    server.close()


@pytest.fixture
def provider(api, make_settings):
    settings = make_settings(OPENAI_BASE_URL=api.url, OPENAI_API_KEY="sk-test-123",
                             OPENAI_IMAGE_MODEL="local-sd")
    return OpenAIImageProvider(settings, attempts=3, backoff_base_s=0.01)


def _mean(image):
    return np.asarray(image, dtype=np.float32).reshape(-1, 3).mean(axis=0)


def test_b64_images_come_back_fitted_to_the_requested_size(api, provider):
    images = provider.generate([ImageRequest(prompt="a red barn", width=48, height=48),
                                ImageRequest(prompt="a blue sea", width=40, height=72)])
    assert [im.size for im in images] == [(48, 48), (40, 72)]
    assert _mean(images[0])[0] > 150 and _mean(images[1])[2] > 150  # order kept
    posts = [r for r in api.requests if r["path"] == "/v1/images/generations"]
    assert len(posts) == 2
    assert all(r["auth"] == "Bearer sk-test-123" for r in posts)
    red = next(r["body"] for r in posts if "red" in r["body"]["prompt"])
    assert red == {"model": "local-sd", "prompt": "a red barn", "n": 1, "size": "48x48"}


def test_url_answers_are_downloaded(api, provider):
    api.mode = "url"
    image = provider.generate([ImageRequest(prompt="a red kite", width=32, height=32)])[0]
    assert image.size == (32, 32) and _mean(image)[0] > 150
    assert any(r["path"].startswith("/files/") for r in api.requests)


def test_a_429_is_retried_then_succeeds(api, provider):
    api.script = [(429, {"error": {"message": "slow down"}})]
    image = provider.generate([ImageRequest(prompt="a blue bird", width=32, height=32)])[0]
    assert _mean(image)[2] > 150
    assert len([r for r in api.requests if r["path"].endswith("/generations")]) == 2


def test_a_server_error_forever_becomes_a_transient_error(api, provider):
    api.script = [(500, {"error": {"message": "boom"}})] * 10
    with pytest.raises(TransientError) as caught:
        provider.generate([ImageRequest(prompt="x", width=32, height=32)])
    assert "failed 3 times" in str(caught.value) and "HTTP 500 boom" in str(caught.value)
    assert len(api.requests) == 3


def test_a_refused_key_names_the_setting_and_is_not_retried(api, provider):
    api.script = [(401, {"error": {"message": "bad key"}})]
    with pytest.raises(JobFailed) as caught:
        provider.generate([ImageRequest(prompt="x")])
    assert not isinstance(caught.value, TransientError)
    assert caught.value.field == "OPENAI_API_KEY" and "bad key" in str(caught.value)
    assert len(api.requests) == 1


def test_a_bad_request_fails_with_the_server_message(api, provider):
    api.script = [(400, {"error": {"message": "prompt rejected by safety system"}})]
    with pytest.raises(JobFailed) as caught:
        provider.generate([ImageRequest(prompt="x")])
    assert "prompt rejected" in str(caught.value) and not isinstance(caught.value, TransientError)


def test_connection_errors_are_retried_then_transient(make_settings):
    import socket
    with socket.socket() as sock:  # a port with nobody listening
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    provider = OpenAIImageProvider(make_settings(OPENAI_BASE_URL=f"http://127.0.0.1:{port}/v1"),
                                   attempts=2, backoff_base_s=0.01)
    with pytest.raises(TransientError) as caught:
        provider.generate([ImageRequest(prompt="x")])
    assert "ConnectionError" in str(caught.value)


def test_the_real_api_without_a_key_names_the_setting(make_settings):
    provider = create_provider(make_settings(OPENAI_API_KEY=""))
    with pytest.raises(ProviderUnavailable) as caught:
        provider.identity(ImageRequest(prompt="x"))
    assert caught.value.field == "OPENAI_API_KEY"


def test_identity_and_sizes_follow_the_model(provider):
    base = provider.identity(ImageRequest(prompt="a cat", width=1080, height=1920))
    assert base["model"] == "local-sd" and base["size"] == "1080x1920"
    assert provider.identity(ImageRequest(prompt="a cat", width=1080, height=1920, seed=1)) != base
    assert provider.identity(ImageRequest(prompt="a cat", width=1080, height=1920, model="dall-e-3")) != base
    assert api_size("gpt-image-1", 1080, 1920) == "1024x1536"
    assert api_size("gpt-image-1", 1920, 1080) == "1536x1024"
    assert api_size("dall-e-3", 1080, 1920) == "1024x1792"
    assert api_size("dall-e-2", 300, 300) == "256x256"
