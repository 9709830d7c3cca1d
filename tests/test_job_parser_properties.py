"""Property tests: whatever JSON (or bytes) arrives, the parser either returns a
Job or raises JobInvalid naming a field - never any other exception."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings, strategies as st

from jobmodel.errors import JobInvalid
from jobmodel.jobfile import decode_job_bytes
from jobmodel.spec import SCENE_FIELDS, TOP_FIELDS, Job, safe_output_filename
from job_parsing import parse_job

FOLDER = Path(__file__).resolve().parent / "bad_jobs"   # a real folder with files in it
COMMON = settings(max_examples=300, deadline=None,
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

scalars = (st.none() | st.booleans() | st.integers(min_value=-2**70, max_value=2**70)
           | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=40))
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=12), inner, max_size=4), max_leaves=25)

# strings that poke at paths, URLs and names
nasty_text = st.sampled_from([
    "", " ", "..", "../x", "/etc/passwd", "file:///etc/passwd", "file://", "http://", "http:///x",
    "https://[::1]/", "http://a:99999/x", "http://[zz]/", "C:\\x.png", "\\\\server\\share", "~/x",
    "expected.json", "./expected.json", "bad_jobs/../expected.json", "x" * 300, "a/" * 200,
    "\ud800", "nul\x00byte", "%2e%2e/x", "file:%2e%2e/x", "data:,x", "javascript:x", "ok.png\n",
    "漢字.png", "\u202eevil.png", "con", "a" * 5000, "#fff", "rgb(300,0,0)", "NaN", "-1", "1e309",
]) | st.text(max_size=30)

field_values = json_values | nasty_text | st.floats() | st.integers(-10, 10_000)


def near_scene():
    names = [name for name, aliases in SCENE_FIELDS.items() for name in (name, *aliases)]
    return st.dictionaries(st.sampled_from(names), field_values, max_size=6)


def near_job():
    names = [name for name, aliases in TOP_FIELDS.items() for name in (name, *aliases) if name != "scenes"]
    top = st.dictionaries(st.sampled_from(names), field_values | st.dictionaries(
        st.sampled_from(["provider", "width", "height", "fps", "preset", "transition", "color",
                         "words_per_line", "font_size", "speed", "seed", "steps", "quality"]),
        field_values, max_size=4), max_size=5)
    return st.builds(lambda t, s: {**t, "scenes": s}, top,
                     st.lists(near_scene(), max_size=3) | field_values)


def check_parse(data, folder=FOLDER) -> None:
    try:
        job = parse_job(data, base_dir=folder, asset_root=folder)
    except JobInvalid as exc:
        assert isinstance(exc.field, str) and exc.field, exc
        assert str(exc).startswith(exc.field) and exc.message
        return
    assert isinstance(job, Job)
    assert 1 <= len(job.scenes) <= 200
    for scene in job.scenes:
        for ref in (scene.image, scene.video, scene.narration, scene.music):
            if ref is not None and not ref.is_url:
                assert ref.path.resolve().is_relative_to(folder), ref
        if scene.duration is not None:
            assert math.isfinite(scene.duration) and scene.duration > 0
    if job.output_filename:
        assert "/" not in job.output_filename and "\\" not in job.output_filename
        assert job.output_filename.endswith(".mp4") and not job.output_filename.startswith(".")


@COMMON
@given(json_values)
def test_any_json_value_parses_or_is_invalid(data):
    check_parse(data)


@COMMON
@given(near_job())
def test_near_valid_jobs_parse_or_are_invalid(data):
    check_parse(data)


@COMMON
@given(st.lists(near_scene(), min_size=1, max_size=3),
       st.sampled_from([None, 0.5, 1, 3]))
def test_scenes_with_durations(scenes, duration):
    if duration is not None:
        scenes = [{**scene, "duration": duration} for scene in scenes]
    check_parse({"scenes": scenes})


@COMMON
@given(json_values)
def test_round_trip_through_bytes(data):
    try:
        raw = json.dumps(data, allow_nan=True).encode("utf-8")
    except (ValueError, UnicodeEncodeError):
        assume(False)
    try:
        value = decode_job_bytes(raw)
    except JobInvalid as exc:
        assert exc.field == "$"
        return
    check_parse(value)


@COMMON
@given(st.binary(max_size=400))
def test_arbitrary_bytes_decode_or_are_invalid(raw):
    try:
        value = decode_job_bytes(raw)
    except JobInvalid as exc:
        assert exc.field == "$"
        return
    check_parse(value)


@COMMON
@given(st.text(max_size=200))
def test_arbitrary_text_decodes_or_is_invalid(text):
    try:
        value = decode_job_bytes(text.encode("utf-8", "surrogatepass"))
    except JobInvalid as exc:
        assert exc.field == "$"
        return
    check_parse(value)


@COMMON
@given(st.text(max_size=300))
def test_output_filename_is_always_a_safe_basename(name):
    try:
        safe = safe_output_filename(name, "output_filename")
    except JobInvalid as exc:
        assert exc.field == "output_filename"
        return
    assert safe.endswith(".mp4") and "/" not in safe and "\\" not in safe
    assert not safe.startswith((".", "-")) and len(safe) <= 104
    assert Path(safe).name == safe and ".." not in Path(safe).parts


@pytest.mark.parametrize("depth", [19, 20, 21, 500, 100_000])
def test_deep_nesting_refused_not_crashing(depth):
    raw = ("[" * depth + "]" * depth).encode()
    try:
        decode_job_bytes(raw)
    except JobInvalid as exc:
        assert exc.field == "$" and "nested" in str(exc)
        assert depth > 20
    else:
        assert depth <= 20


def test_huge_numbers_and_constants():
    for raw in (b'{"scenes":[{"duration":1e999}]}', b'{"scenes":[{"duration":-Infinity}]}',
                b'{"scenes":[{"duration":' + b"9" * 5000 + b"}]}"):
        with pytest.raises(JobInvalid):
            check_value = decode_job_bytes(raw)
            parse_job(check_value, base_dir=FOLDER)
