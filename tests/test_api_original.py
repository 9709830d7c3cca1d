"""The original ProtoVideo service's own tests (protostar0/protovideo tests/test_main.py and
tests/test_api_task.py), replayed against this worker's `run --serve` over real HTTP.

Same requests, status codes and answer fields; the internet pictures the original tests
use are served from 127.0.0.1 (ALLOW_PRIVATE_URLS=true), and each request gets a tiny
`video` block (270x480, 12 fps) and 1 s scenes so the suite stays fast.
"""
from __future__ import annotations

import functools
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from PIL import Image

from api_helpers import ApiProcess, wait_state
from daemon_helpers import wait_for
from media import ffprobe, streams

TINY = {"width": 270, "height": 480, "fps": 12, "quality": "draft"}
PHOTOS = ("30572214", "17977092", "30572264", "14751274")


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def pictures(tmp_path_factory):
    """The pexels pictures of the original tests, as local files on a local web server."""
    root = tmp_path_factory.mktemp("pexels")
    for n, photo in enumerate(PHOTOS):
        folder = root / "photos" / photo
        folder.mkdir(parents=True)
        Image.new("RGB", (320, 480), (40 + 50 * n, 90, 160 - 30 * n)).save(folder / f"pexels-photo-{photo}.jpeg")
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    folder = tmp_path_factory.mktemp("original")
    server = ApiProcess(folder, "run", "--serve", ALLOW_PRIVATE_URLS="true", MAX_ATTEMPTS="1")
    yield server
    server.stop()


def photo(base: str, n: int) -> str:
    return f"{base}/photos/{PHOTOS[n]}/pexels-photo-{PHOTOS[n]}.jpeg"


def generate_and_download(service, payload, tmp_path):
    response = requests.post(service.url + "/generate", json=payload, timeout=600)
    assert response.status_code == 200, response.text
    data = response.json()
    assert "download_url" in data and "generation_time" in data
    download = requests.get(service.url + data["download_url"], timeout=60)
    assert download.status_code == 200
    assert download.headers["content-type"] == "video/mp4"
    path = tmp_path / "downloaded.mp4"
    path.write_bytes(download.content)
    assert path.stat().st_size > 1000
    info = ffprobe(path)
    assert streams(info, "video") and streams(info, "audio")
    assert float(info["format"]["duration"]) > 0.5
    return info


def test_root(service):
    response = requests.get(service.url + "/", timeout=10)
    assert response.status_code == 200
    assert "message" in response.json()
    assert "/generate" in str(response.json())


def test_generate_invalid_scene_type(service):
    payload = {"output_filename": "test.mp4", "scenes": [{"type": "unknown", "duration": 2}]}
    response = requests.post(service.url + "/generate", json=payload, timeout=60)
    assert response.status_code == 400
    assert "Unknown scene type" in response.text


def test_generate_missing_required_fields(service):
    payload = {"output_filename": "test.mp4", "scenes": [{}]}
    response = requests.post(service.url + "/generate", json=payload, timeout=60)
    assert response.status_code in (400, 422)
    assert "detail" in response.json()


def test_generate_image_scene_with_invalid_url(service):
    payload = {"output_filename": "test.mp4", "video": TINY,
               "scenes": [{"type": "image", "image": "http://invalid-url/doesnotexist.jpg", "duration": 2}]}
    response = requests.post(service.url + "/generate", json=payload, timeout=300)
    assert response.status_code == 400
    assert "Failed to download asset" in response.text or "Asset not found" in response.text


def test_generate_image_scene_with_missing_picture(service, pictures):
    payload = {"output_filename": "test.mp4", "video": TINY,
               "scenes": [{"type": "image", "image": f"{pictures}/photos/none.jpg", "duration": 1}]}
    response = requests.post(service.url + "/generate", json=payload, timeout=300)
    assert response.status_code == 400
    assert "Failed to download asset" in response.json()["detail"] and "404" in response.json()["detail"]


def test_generate_real_image_scene(service, pictures, tmp_path):
    payload = {
        "output_filename": "trading_mindset_reel.mp4",
        "narration_text": "Success in trading comes from controlling your emotions. Master your process.",
        "video": TINY,
        "scenes": [{"type": "image", "image": photo(pictures, n), "duration": 1} for n in range(4)],
    }
    generate_and_download(service, payload, tmp_path)


def test_generate_tempimage_scene(service, pictures, tmp_path):
    payload = {
        "output_filename": "trading_motivation_shorts.mp4",
        "video": TINY,
        "scenes": [
            {"type": "image", "subtitle": True, "image": photo(pictures, 0),
             "narration_text": "Trading psychology is the invisible force.", "duration": 1},
            {"type": "image", "image": photo(pictures, 1),
             "narration_text": "Fear and greed can cloud your judgment.", "duration": 1, "subtitle": True},
        ],
    }
    generate_and_download(service, payload, tmp_path)


def test_generate_promptimage_scene(service, tmp_path):
    payload = {
        "output_filename": "trading_motivation_shorts.mp4",
        "video": TINY,
        "scenes": [
            {"type": "image", "subtitle": True, "promptImage": "A lone trader at dawn, city skyline",
             "narration_text": "Every trader wakes up to uncertainty.", "duration": 1},
            {"type": "image", "subtitle": True, "promptImage": "A close-up of eyes staring at a chart",
             "narration_text": "Discipline must be louder than fear.", "duration": 1},
            {"type": "image", "subtitle": True, "promptImage": "A trader's journal open on a desk",
             "narration_text": "Every loss is a mentor.", "duration": 1},
        ],
    }
    generate_and_download(service, payload, tmp_path)


def test_same_output_filename_twice_gives_two_videos(service, tmp_path):
    payload = {"output_filename": "same.mp4", "video": TINY, "scenes": [{"type": "image", "duration": 1}]}
    first = requests.post(service.url + "/generate", json=payload, timeout=300).json()["download_url"]
    second = requests.post(service.url + "/generate", json=payload, timeout=300).json()["download_url"]
    assert first != second and first.endswith("_same.mp4") and second.endswith("_same.mp4")
    assert requests.get(service.url + "/download/../../etc/passwd", timeout=10).status_code == 404
    assert requests.get(service.url + "/download/nothing.mp4", timeout=10).status_code == 404


# ---------------------------------------------------------------- tests/test_api_task.py
@pytest.fixture(scope="module")
def keyed(tmp_path_factory):
    folder = tmp_path_factory.mktemp("original_task")
    server = ApiProcess(folder, "run", "--serve", fake=True, token="N8S6R-test-key", MAX_ATTEMPTS="1")
    yield server
    server.stop()


def test_generate_task_missing_key(keyed):
    response = requests.post(keyed.url + "/generate-task", json={"output_filename": "test.mp4", "scenes": []},
                             timeout=30)
    assert response.status_code == 401


def test_generate_task_with_key(keyed):
    payload = {"output_filename": "test.mp4", "video": TINY, "scenes": [{"type": "image", "duration": 1}]}
    headers = {"x-api-key": "N8S6R-test-key"}
    response = requests.post(keyed.url + "/generate-task", json=payload, headers=headers, timeout=30)
    assert response.status_code == 200
    task_id = response.json()["task_id"]
    assert response.json()["status"] == "queued"

    def finished():
        status = requests.get(f"{keyed.url}/task-status/{task_id}", headers=headers, timeout=30).json()
        return status if status["status"] in ("finished", "failed") else None
    status = wait_for(finished, timeout=120, what="the task to finish")
    assert status["status"] == "finished" and status["task_id"] == task_id
    assert status["result"]["download_url"].endswith("_test.mp4")
    download = requests.get(keyed.url + status["result"]["download_url"], headers=headers, timeout=30)
    assert download.status_code == 200 and download.headers["content-type"] == "video/mp4"
    missing = requests.get(f"{keyed.url}/task-status/nope", headers=headers, timeout=30)
    assert missing.status_code == 404 and missing.json() == {"error": "Task not found"}


def test_generate_answers_500_when_rendering_fails(keyed):
    payload = {"id": "boom-render", "video": TINY, "scenes": [{"type": "image", "duration": 1}]}
    response = requests.post(keyed.url + "/generate", json=payload, headers={"x-api-key": "N8S6R-test-key"},
                             timeout=120)
    assert response.status_code == 500
    assert response.json()["detail"].startswith("Video generation failed")
    assert wait_state(keyed, "boom-render", "failed")["record"]["error"]["type"] == "JobFailed"
