"""generators.media_check: assets checked by their bytes, limits, odd file names."""
from __future__ import annotations

import dataclasses
import struct
import zlib
from pathlib import Path

import pytest
from PIL import Image

from generators import media_check
from generators.media_check import check_asset, scene_of
from hostile_helpers import _ff, png_bytes
from jobmodel.errors import JobFailed
from jobmodel.limits import LIMITS


@pytest.fixture(autouse=True)
def no_memo(monkeypatch):
    monkeypatch.setattr(media_check, "_memo", {})


def limits(monkeypatch, **changes):
    monkeypatch.setattr(media_check, "LIMITS", dataclasses.replace(LIMITS, **changes))


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height, with one tiny compressed row."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
            + chunk(b"IEND", b""))


def test_scene_of():
    assert scene_of("scenes[12].image") == 12
    assert scene_of("music") is None and scene_of(None) is None


def test_good_picture(tmp_path):
    (tmp_path / "p.png").write_bytes(png_bytes((40, 30)))
    info = check_asset(tmp_path / "p.png", "image", "scenes[0].image")
    assert (info.width, info.height, info.format) == (40, 30, "PNG")


def test_header_claiming_billions_of_pixels_refused_before_decoding(tmp_path):
    (tmp_path / "b.png").write_bytes(png_header_only(100_000, 100_000))
    with pytest.raises(JobFailed, match=r"scenes\[2\]\.image: .*decompression bomb") as info:
        check_asset(tmp_path / "b.png", "image", "scenes[2].image", asset="b.png")
    assert info.value.scene == 2 and info.value.asset == "b.png"


def test_pixel_limit_is_the_projects(tmp_path, monkeypatch):
    limits(monkeypatch, max_image_pixels=1000)
    (tmp_path / "p.png").write_bytes(png_bytes((40, 30)))
    with pytest.raises(JobFailed, match="40x30 = 1200 pixels; the limit is 1000"):
        check_asset(tmp_path / "p.png", "image", "scenes[0].image")


def test_animated_gif_frames_count_towards_the_limit(tmp_path, monkeypatch):
    limits(monkeypatch, max_image_pixels=5000)
    frames = [Image.new("RGB", (50, 50), (i * 60, 0, 0)) for i in range(4)]
    frames[0].save(tmp_path / "a.gif", save_all=True, append_images=frames[1:])
    with pytest.raises(JobFailed, match="4 frames"):
        check_asset(tmp_path / "a.gif", "image", "scenes[0].image")


@pytest.mark.parametrize("content", [
    b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n",  # would run Ghostscript
    b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\n",
    b"<svg xmlns='http://www.w3.org/2000/svg'><image href='file:///etc/passwd'/></svg>",
    b"P6\n",
])
def test_non_raster_or_junk_refused(tmp_path, content):
    (tmp_path / "x.png").write_bytes(content)
    with pytest.raises(JobFailed, match="not a picture|corrupt"):
        check_asset(tmp_path / "x.png", "image", "scenes[0].image")


def test_truncated_jpeg_refused(tmp_path):
    import os
    Image.frombytes("RGB", (64, 64), os.urandom(64 * 64 * 3)).save(tmp_path / "f.jpg", quality=95)
    data = (tmp_path / "f.jpg").read_bytes()
    (tmp_path / "t.jpg").write_bytes(data[: len(data) // 2])
    with pytest.raises(JobFailed, match="corrupt or truncated"):
        check_asset(tmp_path / "t.jpg", "image", "scenes[0].image")


@pytest.fixture(scope="module")
def av(tmp_path_factory):
    folder = tmp_path_factory.mktemp("av")
    _ff("-f", "lavfi", "-i", "sine=duration=1", str(folder / "a.wav"))
    _ff("-f", "lavfi", "-i", "testsrc2=s=96x64:r=12:d=1", "-f", "lavfi", "-i", "sine=duration=1",
        "-shortest", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", str(folder / "v.mp4"))
    _ff("-f", "lavfi", "-i", "testsrc2=s=96x64:r=12:d=1", "-c:v", "libvpx", "-b:v", "100k",
        str(folder / "v.webm"))
    return folder


def test_good_audio_and_video(av):
    audio = check_asset(av / "a.wav", "audio", "scenes[0].narration")
    assert audio.has_audio and abs(audio.duration_s - 1.0) < 0.05
    video = check_asset(av / "v.mp4", "video", "scenes[0].video")
    assert (video.width, video.height) == (96, 64) and video.has_video
    assert check_asset(av / "v.webm", "video", "scenes[0].video").width == 96
    assert check_asset(av / "v.mp4", "audio", "music").has_audio  # a clip's sound as music


def test_audio_and_video_limits(av, monkeypatch):
    limits(monkeypatch, max_audio_seconds=0.5, max_video_seconds=0.5)
    with pytest.raises(JobFailed, match=r"music: the audio lasts 1 s; the limit is 0.5 s"):
        check_asset(av / "a.wav", "audio", "music")
    with pytest.raises(JobFailed, match=r"scenes\[1\]\.video: the video lasts 1 s"):
        check_asset(av / "v.mp4", "video", "scenes[1].video")
    limits(monkeypatch, max_video_pixels=96 * 64 - 1)
    with pytest.raises(JobFailed, match="the video is 96x64"):
        check_asset(av / "v.mp4", "video", "scenes[1].video")


def test_missing_streams(av):
    with pytest.raises(JobFailed, match="no video stream"):
        check_asset(av / "a.wav", "video", "scenes[0].video")
    with pytest.raises(JobFailed, match="no audio stream"):
        check_asset(av / "v.webm", "audio", "scenes[0].narration")


@pytest.mark.parametrize("cut", [0.3, 0.6, 0.9])
def test_truncated_video_refused(av, tmp_path, cut):
    data = (av / "v.mp4").read_bytes()
    (tmp_path / "t.mp4").write_bytes(data[: int(len(data) * cut)])
    with pytest.raises(JobFailed, match=r"scenes\[0\]\.video: .*(truncated|not video|no video stream)"):
        check_asset(tmp_path / "t.mp4", "video", "scenes[0].video")


@pytest.mark.parametrize("name", ["-y; rm -rf ~ |concat:a.mp4", "line\nbreak.mp4", "pipe:0",
                                  "%d.mp4", "http:x.mp4", "ÄÖ 漢 'q\".mp4"])
def test_hostile_file_names_are_just_files(av, tmp_path, name):
    target = tmp_path / name
    target.write_bytes((av / "v.mp4").read_bytes())
    assert check_asset(target, "video", "scenes[0].video").width == 96


def test_playlist_and_concat_scripts_refused(tmp_path, av):
    (tmp_path / "list.mp4").write_text(f"ffconcat version 1.0\nfile '{av / 'v.mp4'}'\n")
    (tmp_path / "pl.mp4").write_text(f"#EXTM3U\n#EXTINF:1,\nfile://{av / 'v.mp4'}\n#EXT-X-ENDLIST\n")
    for name in ("list.mp4", "pl.mp4"):
        with pytest.raises(JobFailed, match="not video"):
            check_asset(tmp_path / name, "video", "scenes[0].video")


def test_empty_and_missing_files(tmp_path):
    (tmp_path / "e.wav").write_bytes(b"")
    with pytest.raises(JobFailed, match="empty"):
        check_asset(tmp_path / "e.wav", "audio", "music")
    with pytest.raises(JobFailed, match="missing"):
        check_asset(tmp_path / "nope.wav", "audio", "music")


def test_no_shell_and_argument_lists_only(av, monkeypatch):
    import subprocess
    calls = []
    real = subprocess.run

    def spy(args, *a, **kw):
        calls.append((args, kw.get("shell", False)))
        return real(args, *a, **kw)
    monkeypatch.setattr(media_check.subprocess, "run", spy)
    check_asset(av / "v.mp4", "video", "scenes[0].video")
    assert calls and all(isinstance(args, list) and not shell for args, shell in calls)
    assert all(any(str(a).startswith("file:") for a in args) for args, _ in calls)


def test_truncated_audio_found_by_its_declared_length(tmp_path):
    _ff("-f", "lavfi", "-i", "sine=duration=2", "-c:a", "libmp3lame", str(tmp_path / "full.mp3"))
    data = (tmp_path / "full.mp3").read_bytes()
    (tmp_path / "cut.mp3").write_bytes(data[: len(data) // 3])   # cut on a frame boundary or not
    assert check_asset(tmp_path / "full.mp3", "audio", "music").duration_s == pytest.approx(2, abs=0.1)
    with pytest.raises(JobFailed, match=r"scenes\[0\]\.narration: the audio is .*truncated"):
        check_asset(tmp_path / "cut.mp3", "audio", "scenes[0].narration")


def test_video_with_shorter_sound_is_fine_as_music(tmp_path):
    _ff("-f", "lavfi", "-i", "testsrc2=s=96x64:r=12:d=3", "-f", "lavfi", "-i", "sine=duration=1",
        "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", str(tmp_path / "v.mp4"))
    assert check_asset(tmp_path / "v.mp4", "audio", "music").has_audio
