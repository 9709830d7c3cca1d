"""The job API with a real worker (`run --serve`, spool source): submit, follow, download, cancel.

One server process renders every job of this file, tiny (270x480, 12 fps, 1 s scenes).
"""
from __future__ import annotations

import json
import math
import struct
import time
import wave

import pytest

from api_helpers import ApiProcess, wait_state
from daemon_helpers import wait_for
from media import ffprobe, streams

TOKEN = "api-jobs-token"


def small_job(scenes: int = 2, text: str = "A short line.", **extra) -> dict:
    job = {"video": {"width": 270, "height": 480, "fps": 12, "quality": "draft", "transition": "cut"},
           "scenes": [{"duration": 1, "narration_text": f"{text} Scene {n}.", "subtitle": True,
                       "motion": "none"} for n in range(scenes)]}
    job.update(extra)
    return job


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    folder = tmp_path_factory.mktemp("api_jobs")
    server = ApiProcess(folder, "run", "--serve", token=TOKEN, MAX_WORKERS="2", LEASE_SECONDS="30")
    server.folder = folder
    yield server
    server.stop()


def test_submit_follow_and_download_with_range(api, tmp_path):
    created = api.post("/v1/jobs", json=small_job(3), headers=api.headers(**{"Idempotency-Key": "first-1"}))
    assert created.status_code == 201, created.text
    job_id = created.json()["id"]
    assert created.json()["state"] in ("queued", "started")
    assert created.json()["links"]["self"] == f"/v1/jobs/{job_id}"

    listed = api.get("/v1/jobs").json()
    assert job_id in [job["id"] for job in listed["jobs"]]
    assert listed["jobs"][0]["id"] == job_id   # newest first

    seen = []

    def finished():
        view = api.get(f"/v1/jobs/{job_id}").json()
        seen.append((view["state"], view["progress"]["done"], view["progress"]["percent"]))
        return view if view["state"] in ("finished", "failed") else None
    view = wait_for(finished, timeout=240, interval=0.05, what="the job to finish")
    assert view["state"] == "finished", view
    assert view["progress"]["percent"] == 100.0 and view["eta_s"] == 0.0
    running = [s for s in seen if s[0] == "started"]
    assert running, f"never saw the job running: {seen[:5]}"
    assert len({(done, pct) for _state, done, pct in running}) >= 2, f"progress did not move: {running}"
    assert view["record"]["status"] == "done" and view["record"]["id"] == job_id
    # the same Idempotency-Key again: the same job, nothing queued
    again = api.post("/v1/jobs", json=small_job(3), headers=api.headers(**{"Idempotency-Key": "first-1"}))
    assert again.status_code == 200 and again.json()["id"] == job_id

    whole = api.get(view["links"]["video"])
    assert whole.status_code == 200 and whole.headers["content-type"] == "video/mp4"
    assert whole.headers.get("accept-ranges") == "bytes"
    saved = tmp_path / "got.mp4"
    saved.write_bytes(whole.content)
    info = ffprobe(saved)
    video = streams(info, "video")[0]
    assert (video["width"], video["height"]) == (270, 480) and streams(info, "audio")
    part = api.get(view["links"]["video"], headers=api.headers(Range="bytes=100-1099"))
    assert part.status_code == 206
    assert part.headers["content-range"] == f"bytes 100-1099/{len(whole.content)}"
    assert part.content == whole.content[100:1100]

    report = api.get(f"/v1/jobs/{job_id}/report")
    assert report.status_code == 200 and report.json()["job_id"] == job_id
    api.first_job = job_id


def test_poster_and_captions_beside_the_video(api):
    job_id = getattr(api, "first_job", None) or api.get("/v1/jobs", params={"state": "finished"}).json()["jobs"][0]["id"]
    poster = api.get(f"/v1/jobs/{job_id}/poster.jpg")
    assert poster.status_code == 200 and poster.content[:3] == b"\xff\xd8\xff"
    vtt = api.get(f"/v1/jobs/{job_id}/subtitles.vtt")
    assert vtt.status_code == 200 and vtt.text.startswith("WEBVTT") and "Scene" in vtt.text
    srt = api.get(f"/v1/jobs/{job_id}/subtitles.srt")
    assert srt.status_code == 200 and "-->" in srt.text
    view = api.get(f"/v1/jobs/{job_id}").json()
    manifest = api.get(view["links"]["manifest"])
    assert manifest.status_code == 200 and manifest.json()["job"]["id"] == job_id
    assert view["record"]["qc"]["passed"] is True and view["record"]["qc"]["figures"]["sample_rate"] == 48000


def test_a_job_id_still_queued_or_running_is_not_queued_twice(api):
    job = small_job(2, id="twice-1")
    first = api.post("/v1/jobs", json=job)
    second = api.post("/v1/jobs", json=job)
    assert first.status_code == 201
    assert second.status_code == 200 and second.json()["id"] == "twice-1"
    wait_state(api, "twice-1", ("finished", "failed"), timeout=240)
    ids = [j["id"] for j in api.get("/v1/jobs", params={"limit": 1000}).json()["jobs"]]
    assert ids.count("twice-1") == 1


def test_invalid_job_lists_every_problem_with_its_path(api):
    bad = {"video": {"fps": 0, "width": 271, "height": 480},
           "scenes": [{"duration": 1}, {"duration": -3, "motion": "spin"}, {"type": "hologram", "duration": 1}],
           "music_volume": 7}
    answer = api.post("/v1/jobs", json=bad)
    assert answer.status_code == 400
    fields = {problem["field"] for problem in answer.json()["errors"]}
    for expected in ("video.fps", "video.width", "scenes[1].duration", "scenes[1].motion",
                     "scenes[2].type", "music_volume"):
        assert expected in fields, (expected, answer.json())
    assert all(problem["message"] for problem in answer.json()["errors"])
    checked = api.post("/v1/validate", json=bad).json()
    assert checked["valid"] is False and {p["field"] for p in checked["errors"]} == fields
    assert api.post("/v1/validate", json=small_job(1)).json() == {"valid": True, "errors": []}
    not_json = api.post("/v1/jobs", data=b"{not json", headers=api.headers(**{"Content-Type": "application/json"}))
    assert not_json.status_code == 400 and not_json.json()["errors"][0]["field"] == "$"


def test_cancel_queued_and_running_jobs(api):
    earlier = api.post("/v1/jobs", json=small_job(1)).json()["id"]   # its report feeds the ETA
    assert wait_state(api, earlier, ("finished", "failed"), timeout=240)["state"] == "finished"
    long_job = small_job(40, text="This scene has a rather long sentence so that the job runs a while.")
    running = api.post("/v1/jobs", json=long_job).json()["id"]
    queued = api.post("/v1/jobs", json=small_job(1, priority="low")).json()["id"]
    view = wait_for(lambda: (lambda v: v if v["progress"]["done"] >= 1 else None)(
        api.get(f"/v1/jobs/{running}").json()), timeout=240, what="the long job to be running")
    assert view["state"] == "started" and view["eta_s"] is not None and view["eta_s"] >= 0
    assert 0 < view["progress"]["percent"] < 100
    assert api.get(f"/v1/jobs/{queued}").json()["eta_s"] > 0   # its expected time from the reports
    # the queued one: cancelled at once
    answer = api.delete(f"/v1/jobs/{queued}")
    assert answer.status_code == 200 and answer.json()["state"] == "cancelled"
    # the running one: its worker stops it
    asked = time.monotonic()
    answer = api.delete(f"/v1/jobs/{running}")
    assert answer.status_code == 200 and answer.json()["state"] in ("started", "cancelled")
    view = wait_state(api, running, ("cancelled", "finished", "failed"), timeout=30)
    stopped_after = time.monotonic() - asked
    assert view["state"] == "cancelled", view
    print(f"running job stopped {stopped_after:.2f} s after DELETE")
    assert api.get(f"/v1/jobs/{running}/video").status_code == 404
    assert not list((api.folder / "var" / "output").glob(f"{running}*"))
    # ended jobs cannot be cancelled again
    assert api.delete(f"/v1/jobs/{running}").status_code == 409
    assert api.delete("/v1/jobs/no-such-job").status_code == 404
    # the worker goes on to the next job
    after = api.post("/v1/jobs", json=small_job(1)).json()["id"]
    assert wait_state(api, after, ("finished", "failed"), timeout=240)["state"] == "finished"
    assert api.get(f"/v1/jobs/{queued}").json()["state"] == "cancelled"
    listed = api.get("/v1/jobs", params={"state": "cancelled"}).json()["jobs"]
    assert {running, queued} <= {job["id"] for job in listed}


def test_queue_and_list_paging(api):
    queue = api.get("/v1/queue").json()
    assert set(queue["queued"]) == {"critical", "high", "normal", "low"}
    assert "retry_pending" in queue and "in_progress" in queue
    first = api.get("/v1/jobs", params={"limit": 1}).json()
    assert len(first["jobs"]) == 1 and first["next_cursor"]
    second = api.get("/v1/jobs", params={"limit": 1, "cursor": first["next_cursor"]}).json()
    assert second["jobs"][0]["id"] != first["jobs"][0]["id"]
    assert api.get("/v1/jobs", params={"cursor": "garbage!"}).status_code == 400
    assert api.get("/v1/jobs", params={"state": "nonsense"}).status_code == 400
    assert api.get("/v1/jobs/nope").status_code == 404


def test_upload_an_asset_and_use_it(api, tmp_path):
    from PIL import Image
    picture = tmp_path / "red.png"
    Image.new("RGB", (120, 200), (200, 30, 30)).save(picture)
    answer = api.post("/v1/assets", files={"file": ("red.png", picture.read_bytes(), "image/png")})
    assert answer.status_code == 201, answer.text
    path = answer.json()["path"]
    assert path.startswith("uploads/") and path.endswith(".png")
    assert (api.folder / "assets" / path).read_bytes() == picture.read_bytes()
    wav = tmp_path / "tone.wav"
    with wave.open(str(wav), "wb") as out:
        out.setnchannels(1), out.setsampwidth(2), out.setframerate(16000)
        out.writeframes(b"".join(struct.pack("<h", int(8000 * math.sin(i / 8))) for i in range(16000)))
    sound = api.post("/v1/assets", files={"file": ("tone.wav", wav.read_bytes(), "audio/wav")})
    assert sound.status_code == 201 and sound.json()["kind"] == "audio" and sound.json()["path"].endswith(".wav")
    assert abs(sound.json()["duration_s"] - 1.0) < 0.05
    fake = api.post("/v1/assets", files={"file": ("evil.png", b"#!/bin/sh\necho not a picture\n", "image/png")})
    assert fake.status_code == 400 and "not a usable image" in fake.json()["detail"]
    job = small_job(1)
    job["scenes"][0]["image"] = path
    job_id = api.post("/v1/jobs", json=job).json()["id"]
    view = wait_state(api, job_id, ("finished", "failed"), timeout=240)
    assert view["state"] == "finished", view


def test_a_record_naming_a_file_outside_output_dir_serves_nothing(api):
    record = {"id": "tampered", "status": "done", "output": "/etc/passwd", "poster": "/etc/hostname",
              "manifest": "/etc/passwd",
              "report": "/etc/passwd", "attempts": 1, "worker": "elsewhere",
              "started_at": "2026-01-01T00:00:00+00:00", "finished_at": "2026-01-01T00:00:01+00:00"}
    (api.folder / "var" / "spool" / "done" / "tampered.json").write_text(json.dumps(record))
    assert api.get("/v1/jobs/tampered").json()["state"] == "finished"
    for tail in ("video", "poster.jpg", "report", "subtitles.vtt", "manifest.json"):
        answer = api.get(f"/v1/jobs/tampered/{tail}")
        assert answer.status_code == 404, tail
        assert "root:" not in answer.text
