"""The local sink (the default, OUTPUT_STORE empty): files in OUTPUT_DIR published once, URLs the
job API serves under API_PUBLIC_URL, names that cannot leave the folder."""
from __future__ import annotations

import os
import threading

import pytest

from storage import PublishConflict, open_sink, publish_outputs
from storage.local import LocalSink


def test_the_default_sink_is_the_output_folder_with_the_api_routes_as_urls(make_settings, tmp_path):
    sink = open_sink(make_settings(API_PUBLIC_URL="https://videos.example.com/base/"))
    assert sink.kind == "local"
    video = tmp_path / "made.mp4"
    video.write_bytes(b"video bytes")
    done = sink.publish("job 1", "job 1.mp4", video)
    out = make_settings().path("OUTPUT_DIR") / "job 1.mp4"
    assert done.location == str(out) and out.read_bytes() == b"video bytes" and done.new
    base = "https://videos.example.com/base/v1/jobs/job%201"
    assert sink.url("job 1", "job 1.mp4") == f"{base}/video"
    assert sink.url("job 1", "job 1.jpg") == f"{base}/poster.jpg"
    assert sink.url("job 1", "job 1.vtt") == f"{base}/subtitles.vtt"
    assert sink.url("job 1", "job 1.srt") == f"{base}/subtitles.srt"
    assert sink.url("job 1", "job 1.json") == f"{base}/report"
    assert sink.url("job 1", "job 1.manifest.json") == f"{base}/manifest.json"
    assert sink.url("job 1", "notes.txt") == f"{base}/files/notes.txt"


def test_without_api_public_url_the_urls_are_the_apis_own_address(make_settings):
    sink = open_sink(make_settings(API_HOST="0.0.0.0", API_PORT="8123"))
    assert sink.url("j", "j.mp4") == "http://127.0.0.1:8123/v1/jobs/j/video"


def test_publish_once_locally(tmp_path):
    sink = LocalSink(tmp_path / "out", "http://127.0.0.1:8000")
    first, second = tmp_path / "first", tmp_path / "second"
    first.write_bytes(b"first render")
    second.write_bytes(b"another render")
    assert sink.publish("j", "j.mp4", first).new
    with pytest.raises(PublishConflict):
        sink.publish("j", "j.mp4", second)
    assert (tmp_path / "out" / "j.mp4").read_bytes() == b"first render"
    assert not sink.publish("j", "j.mp4", first).new       # the same bytes again: fine
    assert sink.publish("j", "j.mp4", second, replace=True).new   # a person re-rendering on purpose
    assert (tmp_path / "out" / "j.mp4").read_bytes() == b"another render"
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["j.mp4"]   # no temp file left


def test_concurrent_publishers_of_different_bytes_leave_one_whole_file(tmp_path):
    sink = LocalSink(tmp_path / "out", "http://127.0.0.1:8000")
    sources = []
    for i in range(8):
        sources.append(tmp_path / f"s{i}")
        sources[-1].write_bytes(os.urandom(2_000_000))
    results: list = [None] * len(sources)
    start = threading.Barrier(len(sources))

    def publish(i: int) -> None:
        start.wait()
        try:
            results[i] = sink.publish("j", "j.mp4", sources[i])
        except PublishConflict as exc:
            results[i] = exc

    threads = [threading.Thread(target=publish, args=(i,)) for i in range(len(sources))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    winners = [i for i, r in enumerate(results) if not isinstance(r, PublishConflict)]
    assert len(winners) == 1
    assert (tmp_path / "out" / "j.mp4").read_bytes() == sources[winners[0]].read_bytes()


@pytest.mark.parametrize("name", ["../escape.mp4", "a/b.mp4", ".hidden", "", "nul\x00.mp4", "x" * 300])
def test_names_that_are_not_one_plain_segment_are_refused(tmp_path, name):
    sink = LocalSink(tmp_path / "out", "http://127.0.0.1:8000")
    source = tmp_path / "s"
    source.write_bytes(b"x")
    with pytest.raises(ValueError):
        sink.publish("j", name, source)
    with pytest.raises(ValueError):
        sink.publish(name, "j.mp4", source)                 # the same rule for job ids
    assert not (tmp_path / "escape.mp4").exists()


def test_publish_outputs_keeps_a_file_that_is_already_in_place(tmp_path):
    sink = LocalSink(tmp_path, "http://127.0.0.1:8000")
    video, poster = tmp_path / "j.mp4", tmp_path / "work-poster.jpg"
    video.write_bytes(b"v")
    poster.write_bytes(b"p")
    done = publish_outputs(sink, "j", {"j.mp4": video, "j.jpg": poster}, delete_local=True)
    assert video.read_bytes() == b"v" and not done["j.mp4"].new   # rendered into OUTPUT_DIR: kept
    assert not poster.exists() and (tmp_path / "j.jpg").read_bytes() == b"p"
    with sink.open("j", "j.jpg") as fh:
        assert fh.read() == b"p"
    assert sink.delete("j", "j.jpg") and not sink.delete("j", "j.jpg")
