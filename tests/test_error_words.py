"""A failed job's error in words (protovideo/service/api/describe.py): the failures the worker
really makes (the fetcher against a closed port, a 404, a missing file, a refused address; a
scene that raised; a time limit; a worn-out lease), each described without a Python class
name or a library message, naming the job's part in words."""
from __future__ import annotations

import builtins
import inspect
import re

import pytest
import requests
import urllib3.exceptions

import jobmodel.errors
from api_helpers import free_port
from generators import fetch
from generators.fetch import fetch_asset
from hostile_helpers import Listener
from jobmodel.errors import error_record
from jobmodel.refs import parse_asset_ref
from protovideo.service.api.describe import describe_error


def class_names() -> set[str]:
    """Every exception class name a message could carry: Python's, requests', urllib3's, ours."""
    names = {n for n, v in vars(builtins).items() if inspect.isclass(v) and issubclass(v, BaseException)}
    for module in (requests.exceptions, urllib3.exceptions, jobmodel.errors):
        names |= {n for n, v in vars(module).items() if inspect.isclass(v) and issubclass(v, BaseException)}
    names |= {"JobTimeout", "LeaseExpired", "RefusedAddress", "SceneError", "NewConnectionError"}
    return names - {"Warning"}   # an English word too


RAW = re.compile(r"<urlopen|Errno|ConnectionPool|Caused by|object at 0x|Traceback|Max retries")


def assert_in_words(words: dict, must: str) -> None:
    text = f"{words['summary']} {words['detail']}"
    found = [name for name in class_names() if re.search(rf"\b{name}\b", text)]
    assert not found, (found, words)
    assert not RAW.search(text), words
    assert must in words["summary"], words
    assert words["summary"][0].isupper() and words["summary"].endswith("."), words


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch):
    monkeypatch.setattr(fetch, "BACKOFF_BASE_S", 0.01)
    monkeypatch.setattr(fetch, "BACKOFF_MAX_S", 0.05)


def failure_of(call) -> dict:
    try:
        call()
    except Exception as exc:   # noqa: BLE001 - the worker's own record of it
        return {"status": "failed", "error": error_record(exc)}
    raise AssertionError("it did not fail")


def test_real_fetch_failures_in_words(make_settings, tmp_path):
    settings = make_settings(ALLOW_PRIVATE_URLS="true")
    closed = f"http://127.0.0.1:{free_port()}/picture.png"
    record = failure_of(lambda: fetch_asset(parse_asset_ref(closed, "scenes[0].image", "image", []), settings))
    assert "Connection refused" in record["error"]["message"] or "111" in record["error"]["message"]
    words = describe_error(record)
    assert_in_words(words, "The picture of scene 1 could not be downloaded")
    assert "refused" in words["summary"] and closed in words["detail"]

    with Listener("127.0.0.1") as server:
        missing = f"{server.base}/clip.mp4"
        record = failure_of(lambda: fetch_asset(parse_asset_ref(missing, "scenes[2].video", "video", []),
                                                settings))
    assert_in_words(describe_error(record), "The video clip of scene 3 could not be downloaded")
    assert "HTTP 404" in describe_error(record)["summary"]

    strict = make_settings(ALLOW_PRIVATE_URLS="false")
    record = failure_of(lambda: fetch_asset(parse_asset_ref(closed, "scenes[1].image", "image", []), strict))
    words = describe_error(record)
    assert_in_words(words, "The picture of scene 2")
    assert "private or local addresses" in words["summary"]

    words = describe_error(failure_of(lambda: parse_asset_ref("pictures/nowhere.png", "scenes[0].image",
                                                              "image", [tmp_path])))
    assert_in_words(words, "The picture of scene 1 is missing")
    assert "pictures/nowhere.png" in words["detail"]


def test_other_failures_in_words():
    cases = [
        ({"type": "JobFailed", "message": "scenes[2]: ValueError: operands could not be broadcast together",
          "scene": 2}, "Rendering scene 3 failed"),
        ({"type": "JobFailed", "message": "Piper voice 'x' is not in PIPER_VOICES_DIR (/v) and could not be "
          "downloaded: <urlopen error [Errno -2] Name or service not known>", "field": "voice.name"},
         "The voice could not be downloaded"),
        ({"type": "JobTimeout", "message": "the job ran longer than JOB_TIMEOUT (600s)"}, "time limit"),
        ({"type": "LeaseExpired", "message": "the job's worker stopped without finishing it 3 times "
          "(MAX_ATTEMPTS=3)"}, "stopped before finishing"),
        ({"type": "JobInvalid", "message": "scenes[1].motion: must be one of none, zoom_in",
          "field": "scenes[1].motion"}, "not valid"),
        ({"type": "KeyError", "message": "KeyError: 'scenes'"}, "Rendering failed"),
        ({"type": "QCFailed", "message": "QC failed", "qc": {"passed": False, "problems": [
            {"message": "the video has 0 frames"}]}}, "quality check"),
    ]
    for error, must in cases:
        words = describe_error({"status": "failed", "error": error})
        assert_in_words(words, must)
    invalid = describe_error({"status": "failed", "error": cases[4][0]})
    assert "scenes[1].motion: must be one of none, zoom_in" in invalid["detail"]   # where, for the editor
    assert describe_error({"status": "cancelled", "was": "started"})["summary"].startswith("Cancelled while")
    assert describe_error({"status": "done"}) is None
