"""Asset paths at parse time (jobmodel.refs): only files inside the job's folder
or ASSET_ROOT, whatever the spelling; output names reduced to safe basenames."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from hostile_helpers import png_bytes
from jobmodel.errors import JobInvalid
from jobmodel.spec import safe_output_filename
from job_parsing import parse_job
from jobmodel.refs import parse_asset_ref


@pytest.fixture
def layout(tmp_path):
    """job/ (the job's folder), assets/ (ASSET_ROOT), outside/ (neither)."""
    job, assets, outside = tmp_path / "job", tmp_path / "assets", tmp_path / "outside"
    for folder in (job, assets, outside, job / "sub"):
        folder.mkdir()
    for folder in (job, assets, outside, job / "sub"):
        (folder / "p.png").write_bytes(png_bytes())
    (assets / "only_in_assets.png").write_bytes(png_bytes())
    (outside / "secret.png").write_bytes(png_bytes())
    return job, assets, outside


def ref(value, layout):
    job, assets, _ = layout
    return parse_asset_ref(value, "scenes[0].image", "image", [job.resolve(), assets.resolve()])


def refused(value, layout, match=""):
    with pytest.raises(JobInvalid, match=match) as info:
        ref(value, layout)
    assert info.value.field == "scenes[0].image"
    return str(info.value)


@pytest.mark.parametrize("value", ["p.png", "./p.png", "sub/p.png", "sub//p.png", "sub/./p.png",
                                   "only_in_assets.png", " p.png "])
def test_inside_paths_accepted(value, layout):
    result = ref(value, layout)
    assert result.path.is_file() and not result.is_url
    assert result.roots  # kept for the re-check at fetch time


def test_absolute_and_file_urls_inside_accepted(layout):
    job, assets, _ = layout
    assert ref(str(job / "p.png"), layout).path == (job / "p.png").resolve()
    assert ref(f"file://{assets}/p.png", layout).path == (assets / "p.png").resolve()
    assert ref(f"file:{job}/sub/p.png", layout).path == (job / "sub" / "p.png").resolve()


@pytest.mark.parametrize("value, match", [
    ("../outside/secret.png", r"'\.\.'"),
    ("sub/../../outside/secret.png", r"'\.\.'"),
    ("sub/../p.png", r"'\.\.'"),
    ("file:../outside/secret.png", r"'\.\.'"),
    ("file:%2e%2e/outside/secret.png", r"'\.\.'"),
    ("/etc/passwd", "outside"),
    ("file:///etc/passwd", "outside"),
    ("file://localhost/etc/passwd", "outside"),
    ("file://evil.example/etc/passwd", "names host"),
    ("~/p.png", "not found"),
    ("$HOME/p.png", "not found"),
    ("nothere.png", "not found"),
    ("sub", "not a file"),
    (".", "not a file"),
    ("", "non-empty"),
    ("   ", "non-empty"),
    ("p.png\x00.jpg", "not a usable"),
    ("x" * 5000, "not a usable"),
    ("d/" * 300 + "x.png", "not found|not a usable"),
    ("y" * 300 + ".png", "not a usable"),
    ("\ud800.png", "not a usable"),
    ("ftp://example.com/p.png", "scheme 'ftp:'"),
    ("data:image/png;base64,AAAA", "scheme 'data:'"),
    ("javascript:alert(1)", "scheme 'javascript:'"),
    ("gopher://127.0.0.1/", "scheme 'gopher:'"),
    ("concat:p.png|p.png", "scheme 'concat:'"),
    ("pipe:0", "scheme 'pipe:'"),
    ("http://", "no host"),
    ("http://[zz]/x", "malformed"),
    ("http://example.com:99999/x", "malformed"),
])
def test_refused_spellings(value, match, layout):
    refused(value, layout, match)


def test_absolute_path_to_outside_named(layout):
    _, _, outside = layout
    message = refused(str(outside / "secret.png"), layout, "outside the job's folder and ASSET_ROOT")
    assert message.startswith("scenes[0].image: ")


def test_symlinks(layout):
    job, assets, outside = layout
    (job / "out.png").symlink_to(outside / "secret.png")
    (job / "outdir").symlink_to(outside)
    (job / "chain1.png").symlink_to(job / "chain2.png")
    (job / "chain2.png").symlink_to(outside / "secret.png")
    (job / "in.png").symlink_to(job / "sub" / "p.png")
    (job / "to_assets.png").symlink_to(assets / "p.png")
    (job / "loop.png").symlink_to(job / "loop.png")
    (job / "dangling.png").symlink_to(outside / "gone.png")
    refused("out.png", layout, "symbolic link")
    refused("outdir/secret.png", layout, "symbolic link")
    refused("chain1.png", layout, "symbolic link")
    refused(str(job / "out.png"), layout, "outside")
    refused(f"file://{job}/outdir/secret.png", layout, "outside")
    refused("loop.png", layout, "not found|not a usable")
    refused("dangling.png", layout, "not found")
    assert ref("in.png", layout).path == (job / "sub" / "p.png").resolve()
    assert ref("to_assets.png", layout).path == (assets / "p.png").resolve()


def test_symlinked_roots_still_hold(tmp_path, layout):
    job, assets, outside = layout
    alias = tmp_path / "job_alias"
    alias.symlink_to(job)
    data = {"scenes": [{"duration": 1, "image": "p.png"}]}
    parsed = parse_job(data, base_dir=alias, asset_root=assets)
    assert parsed.scenes[0].image.path == (job / "p.png").resolve()
    (job / "esc.png").symlink_to(outside / "secret.png")
    with pytest.raises(JobInvalid, match=r"scenes\[0\]\.image"):
        parse_job({"scenes": [{"duration": 1, "image": "esc.png"}]}, base_dir=alias, asset_root=assets)


def test_special_files_refused(layout):
    job, _, _ = layout
    os.mkfifo(job / "fifo.png")
    refused("fifo.png", layout, "not a file")
    refused("/dev/zero", layout, "outside")
    refused("/proc/self/environ", layout, "outside")


def test_every_asset_field_checked(layout):
    job, assets, _ = layout
    fields = {
        "scenes[0].image": {"scenes": [{"duration": 1, "image": "../x"}]},
        "scenes[0].video": {"scenes": [{"type": "video", "duration": 1, "video": "/etc/passwd"}]},
        "scenes[0].narration": {"scenes": [{"narration": "file:///etc/passwd"}]},
        "scenes[0].music": {"scenes": [{"duration": 1, "music": "../../m.mp3"}]},
        "music": {"music": "/etc/hosts", "scenes": [{"duration": 1}]},
        "global_audio_prompt_url": {"global_audio_prompt_url": "../v.wav", "scenes": [{"duration": 1}]},
        "scenes[1].image_url": {"scenes": [{"duration": 1}, {"duration": 1, "image_url": "/etc/x"}]},
    }
    for field, data in fields.items():
        with pytest.raises(JobInvalid) as info:
            parse_job(data, base_dir=job, asset_root=assets)
        assert info.value.field == field, (field, str(info.value))


@pytest.mark.parametrize("value, expected", [
    ("video.mp4", "video.mp4"),
    ("../../etc/cron.d/evil.mp4", "evil.mp4"),
    ("/tmp/x.mp4", "x.mp4"),
    ("C:\\Windows\\evil.mp4", "evil.mp4"),
    ("..\\..\\evil", "evil.mp4"),
    ("évil name;rm -rf ~.MP4", "vil_name_rm_-rf.mp4"),
    (".hidden.mp4", "hidden.mp4"),
    ("-rf.mp4", "rf.mp4"),
    ("a" * 300, "a" * 100 + ".mp4"),
    ("clip.mp4\n", "clip.mp4"),
    ("$(id).mp4", "id.mp4"),
])
def test_output_filename_reduced(value, expected):
    assert safe_output_filename(value, "output_filename") == expected


@pytest.mark.parametrize("value", ["", "..", "/", "../..", ".mp4", "漢字.mp4", "...", "\\"])
def test_output_filename_without_a_name_refused(value):
    with pytest.raises(JobInvalid) as info:
        safe_output_filename(value, "output_filename")
    assert info.value.field == "output_filename"
