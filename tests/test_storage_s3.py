"""The S3 output sink against a real S3 server (Ceph radosgw, scripts/s3_server.sh): presigned URLs
that play and answer Range requests, tampered and expired URLs refused by the store, publish-once,
multipart uploads, a store killed in the middle of a publish, and what radosgw itself honours."""
from __future__ import annotations

import hashlib
import os
import subprocess
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from generators.ffmpeg import ffmpeg_exe
from jobmodel.errors import TransientError
from media import ffprobe, streams
from storage import PublishConflict, StoreUnavailable, open_sink, publish_outputs
from storage.address import parse_store_url
from storage.s3_sink import S3Sink

MB = 1 << 20


@pytest.fixture
def prefix(s3_env):
    return f"t-{uuid.uuid4().hex[:10]}"


def sink_for(prefix: str, **kwargs) -> S3Sink:
    return S3Sink(parse_store_url(f"s3://outputs/{prefix}"), kwargs.pop("url_ttl", 600), **kwargs)


@pytest.fixture(scope="module")
def tiny_mp4(tmp_path_factory) -> Path:
    """A 2 s H.264 + AAC MP4 (test pattern and a tone), made by ffmpeg, moov atom first."""
    out = tmp_path_factory.mktemp("media") / "tiny.mp4"
    subprocess.run([ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=25:duration=2",
                    "-f", "lavfi", "-i", "sine=frequency=440:duration=2", "-c:v", "libx264", "-pix_fmt",
                    "yuv420p", "-c:a", "aac", "-shortest", "-movflags", "+faststart", str(out)], check=True)
    return out


def random_file(path: Path, size: int) -> Path:
    path.write_bytes(os.urandom(size))
    return path


def test_published_video_plays_from_its_presigned_url_and_answers_ranges(prefix, tiny_mp4, s3_server):
    sink = sink_for(prefix)
    done = sink.publish("job-1", "job-1.mp4", tiny_mp4)
    assert done.new and done.location == f"s3://outputs/{prefix}/job-1/job-1.mp4"
    url = sink.url("job-1", "job-1.mp4")
    assert url.startswith(s3_server.endpoint + f"/outputs/{prefix}/job-1/job-1.mp4?")   # path-style
    info = ffprobe(url)                                   # ffprobe reads it over HTTP
    assert [s["codec_name"] for s in streams(info, "video")] == ["h264"]
    assert [s["codec_name"] for s in streams(info, "audio")] == ["aac"]
    assert int(streams(info, "video")[0]["nb_read_frames"]) == 50
    data = tiny_mp4.read_bytes()
    whole = requests.get(url, timeout=30)
    assert whole.status_code == 200 and whole.content == data
    assert whole.headers["Content-Type"] == "video/mp4"
    part = requests.get(url, headers={"Range": "bytes=100-1123"}, timeout=30)
    assert part.status_code == 206
    assert part.content == data[100:1124]
    assert part.headers["Content-Range"] == f"bytes 100-1123/{len(data)}"


def test_tampered_and_expired_urls_are_refused_by_the_store(prefix, tiny_mp4, tmp_path):
    sink = sink_for(prefix)
    sink.publish("job-1", "job-1.mp4", tiny_mp4)
    sink.publish("job-1", "other.bin", random_file(tmp_path / "other.bin", 1000))
    url = sink.url("job-1", "job-1.mp4")
    assert requests.get(url, timeout=30).status_code == 200
    signature = parse_qs(urlsplit(url).query)["X-Amz-Signature"][0]
    flipped = signature[:-1] + ("0" if signature[-1] != "0" else "1")
    assert requests.get(url.replace(signature, flipped), timeout=30).status_code == 403
    other_key = url.replace("/job-1/job-1.mp4?", "/job-1/other.bin?")   # a signature for another key
    assert requests.get(other_key, timeout=30).status_code == 403
    longer = url.replace("X-Amz-Expires=600", "X-Amz-Expires=6000")     # a longer life it was not signed for
    assert requests.get(longer, timeout=30).status_code == 403

    short = sink_for(prefix, url_ttl=1).url("job-1", "job-1.mp4")
    assert parse_qs(urlsplit(short).query)["X-Amz-Expires"] == ["1"]
    time.sleep(3)                                          # well past its one second
    expired = requests.get(short, timeout=30)
    assert expired.status_code == 403 and b"AccessDenied" in expired.content


def test_url_ttl_setting_is_the_presigned_lifetime(s3_env, make_settings):
    sink = open_sink(make_settings(OUTPUT_STORE="s3://outputs/ttl", URL_TTL="90"))
    assert sink.kind == "s3"
    assert parse_qs(urlsplit(sink.url("j", "j.mp4")).query)["X-Amz-Expires"] == ["90"]


@pytest.mark.parametrize("size", [200_000, 12 * MB], ids=["single-put", "multipart"])
def test_publish_once_keeps_the_first_bytes_and_repeats_idempotently(prefix, tmp_path, s3_server, size):
    sink = sink_for(prefix, multipart_threshold=5 * MB, part_size=5 * MB)
    first = random_file(tmp_path / "first.mp4", size)
    second = random_file(tmp_path / "second.mp4", size)
    assert sink.publish("job-1", "out.mp4", first).new
    with pytest.raises(PublishConflict, match="different"):
        sink.publish("job-1", "out.mp4", second)
    again = sink.publish("job-1", "out.mp4", first)       # a retried or duplicated job
    assert not again.new and again.sha256 == hashlib.sha256(first.read_bytes()).hexdigest()
    with sink.open("job-1", "out.mp4") as body:
        assert body.read() == first.read_bytes()
    head = s3_server.client().head_object(Bucket="outputs", Key=f"{prefix}/job-1/out.mp4")
    assert head["ContentType"] == "video/mp4"
    parts = head["ETag"].strip('"').partition("-")[2]     # multipart ETags end in -<parts>
    assert parts == ("3" if size > 5 * MB else "")


def test_two_publishers_of_different_bytes_at_once_leave_one_whole_object(prefix, tmp_path, s3_server):
    files = [random_file(tmp_path / f"{i}.mp4", 6 * MB) for i in range(2)]
    outcomes: list[object] = [None, None]
    start = threading.Barrier(2)

    def publish(i: int) -> None:
        start.wait()
        try:
            outcomes[i] = sink_for(prefix, multipart_threshold=5 * MB, part_size=5 * MB).publish(
                "job-1", "out.mp4", files[i])
        except PublishConflict as exc:
            outcomes[i] = exc

    threads = [threading.Thread(target=publish, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    winners = [i for i in range(2) if not isinstance(outcomes[i], PublishConflict)]
    assert len(winners) == 1, outcomes
    body = s3_server.client().get_object(Bucket="outputs", Key=f"{prefix}/job-1/out.mp4")["Body"].read()
    assert body == files[winners[0]].read_bytes()


def test_store_killed_in_the_middle_of_a_publish_then_back_publishes_once(prefix, tmp_path, s3_server):
    big = random_file(tmp_path / "big.mp4", 24 * MB)
    uploading, killed, failed, back = (threading.Event() for _ in range(4))
    waits: list[float] = []

    def on_bytes(n: int) -> None:      # the first bytes on their way: hold them until the kill
        if not uploading.is_set():
            uploading.set()
            killed.wait(timeout=120)

    def sleep(seconds: float) -> None:   # the backoff's wait: the store comes back meanwhile
        waits.append(seconds)
        failed.set()
        assert back.wait(timeout=120), "the test never brought the store back"

    sink = sink_for(prefix, multipart_threshold=5 * MB, part_size=5 * MB, on_bytes=on_bytes, sleep=sleep)
    result: dict = {}
    worker = threading.Thread(target=lambda: result.update(done=sink.publish("job-1", "out.mp4", big)))
    worker.start()
    try:
        assert uploading.wait(timeout=120)
        s3_server.stop_gateway()                     # SIGKILL radosgw mid-upload
        killed.set()
        assert failed.wait(timeout=120)
        s3_server.start_gateway()
    finally:
        killed.set()
        back.set()
        worker.join(timeout=300)
    assert result["done"].new and waits                # it failed, waited, and published
    client = s3_server.client()
    listed = client.list_objects_v2(Bucket="outputs", Prefix=f"{prefix}/job-1/")["Contents"]
    assert [o["Key"] for o in listed] == [f"{prefix}/job-1/out.mp4"]
    body = client.get_object(Bucket="outputs", Key=f"{prefix}/job-1/out.mp4")["Body"].read()
    assert hashlib.sha256(body).hexdigest() == hashlib.sha256(big.read_bytes()).hexdigest()
    assert not sink.publish("job-1", "out.mp4", big).new   # the job's next retry: already there


def test_a_store_that_stays_down_fails_transiently_and_keeps_local_files(monkeypatch, s3_env, tmp_path):
    with __import__("socket").socket() as sock:         # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", f"http://127.0.0.1:{closed}")
    waits: list[float] = []
    sink = sink_for("down", attempts=3, sleep=waits.append)
    video = random_file(tmp_path / "job-1.mp4", 1000)
    with pytest.raises(StoreUnavailable, match="failed 3 times") as caught:
        publish_outputs(sink, "job-1", [video], delete_local=True)
    assert isinstance(caught.value, TransientError) and caught.value.retryable
    assert len(waits) == 2 and video.is_file()           # backed off twice; nothing deleted


def test_publish_outputs_deletes_local_files_only_once_confirmed(prefix, tmp_path, s3_server):
    files = [random_file(tmp_path / n, 5000) for n in ("job-1.mp4", "job-1.jpg", "job-1.vtt")]
    done = publish_outputs(sink_for(prefix), "job-1", files, delete_local=True)
    assert sorted(done) == ["job-1.jpg", "job-1.mp4", "job-1.vtt"]
    assert not any(f.exists() for f in files)
    client = s3_server.client()
    types = {n: client.head_object(Bucket="outputs", Key=f"{prefix}/job-1/{n}")["ContentType"] for n in done}
    assert types == {"job-1.mp4": "video/mp4", "job-1.jpg": "image/jpeg", "job-1.vtt": "text/vtt; charset=utf-8"}


def test_delete_removes_the_object_and_its_claim_so_the_name_can_be_published_again(prefix, tmp_path):
    sink = sink_for(prefix)
    a, b = random_file(tmp_path / "a", 100), random_file(tmp_path / "b", 100)
    sink.publish("job-1", "out.mp4", a)
    assert sink.delete("job-1", "out.mp4") and not sink.delete("job-1", "out.mp4")
    assert sink.publish("job-1", "out.mp4", b).new


def test_what_radosgw_honours(prefix, s3_server):
    """Why the sink claims a name before a multipart upload: radosgw (Ceph 16) refuses a second
    PutObject with If-None-Match: * (412) but lets CompleteMultipartUpload and CopyObject replace
    the object although they carry If-None-Match: *."""
    from botocore.exceptions import ClientError
    client, key = s3_server.client(), f"{prefix}/probe"
    client.put_object(Bucket="outputs", Key=key, Body=b"first", IfNoneMatch="*")
    with pytest.raises(ClientError) as refused:
        client.put_object(Bucket="outputs", Key=key, Body=b"second", IfNoneMatch="*")
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 412
    upload = client.create_multipart_upload(Bucket="outputs", Key=key)["UploadId"]
    part = client.upload_part(Bucket="outputs", Key=key, UploadId=upload, PartNumber=1, Body=b"third")
    client.complete_multipart_upload(Bucket="outputs", Key=key, UploadId=upload, IfNoneMatch="*",
                                     MultipartUpload={"Parts": [{"ETag": part["ETag"], "PartNumber": 1}]})
    assert client.get_object(Bucket="outputs", Key=key)["Body"].read() == b"third"
    client.put_object(Bucket="outputs", Key=f"{key}-other", Body=b"fourth")
    client.copy_object(Bucket="outputs", Key=key, CopySource={"Bucket": "outputs", "Key": f"{key}-other"},
                       IfNoneMatch="*")                   # nor on CopyObject
    assert client.get_object(Bucket="outputs", Key=key)["Body"].read() == b"fourth"
