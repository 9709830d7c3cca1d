"""The plug-in catalogue: the job model's names and fields come from the renderer's registries,
a plug-in added from outside is a valid name at once, and parsing before the catalogue is
loaded fails loudly instead of refusing good jobs."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from cache import make_key
from generators import overlays, scenes, transitions
from generators.plugins import unregister
from jobmodel import catalogue
from jobmodel.catalogue import Param
from jobmodel.errors import JobInvalid
from jobmodel.fields import number, one_of
from job_parsing import parse_job
from jobmodel.validate import validate_job
from job_parsing import PROVIDERS

ROOT = Path(__file__).resolve().parent.parent


def scene(**kw):
    return {"duration": 2, **kw}


def test_parsing_before_the_plugins_are_loaded_fails_loudly_in_a_fresh_process(tmp_path):
    code = ("import sys, json; sys.path.insert(0, %r)\n"
            "from jobmodel.catalogue import CatalogueNotLoaded\n"
            "from jobmodel.spec import parse_job\n"
            "from jobmodel.validate import validate_job\n"
            "out = []\n"
            "for check in (parse_job, validate_job):\n"
            "    try:\n"
            "        check({'scenes': [{'duration': 2}]}, default_image_provider='simple',\n"
            "              default_voice_provider='piper')\n"
            "        out.append('no error')\n"
            "    except CatalogueNotLoaded as exc:\n"
            "        out.append(str(exc))\n"
            "print(json.dumps(out))\n") % str(ROOT)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    messages = json.loads(proc.stdout)
    assert len(messages) == 2
    assert all("generators.plugins.load_all()" in m and "not loaded" in m for m in messages), messages


def test_every_entry_point_that_reads_jobs_loads_the_catalogue(tmp_path):
    job = tmp_path / "job.json"
    job.write_text(json.dumps({"scenes": [scene(type="video")]}))
    proc = subprocess.run([sys.executable, str(ROOT / "main_worker.py"), "validate", str(job)],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path,
                          env={"PATH": "/usr/bin:/bin", "LOG_FILE": "", "HOME": str(tmp_path)})
    assert proc.returncode == 2, proc.stderr
    assert "scenes[0].video" in proc.stdout + proc.stderr and "needs" in proc.stdout + proc.stderr


def test_a_transition_registered_from_outside_is_a_job_name_at_once(tmp_path):
    with pytest.raises(JobInvalid, match="must be one of .*crossfade"):
        parse_job({"scenes": [scene(), scene()], "video": {"transition": "test_spin"}}, tmp_path)

    @transitions.transition("test_spin", aliases=("spin_test",))
    class Spin:
        def __init__(self, span):
            pass

        def frame(self, a, b, k):
            return a

    try:
        job = parse_job({"scenes": [scene(transition="SPIN_TEST"), scene()], "video": {"transition": "test_spin"}},
                        tmp_path)
        assert job.video.transition == "test_spin" and job.scenes[0].transition == "test_spin"
        assert job.scenes[1].transition is None and job.transition_after(0) == "test_spin"
    finally:
        unregister(transitions.TRANSITIONS, "test_spin")
    assert "test_spin" not in catalogue.names("transition")


def test_aliases_and_per_scene_transitions(tmp_path):
    job = parse_job({"scenes": [scene(transition="none"), scene(transition="fade"), scene()],
                     "video": {"transition": "cut"}}, tmp_path)
    assert [job.transition_after(i) for i in range(2)] == ["cut", "crossfade"]
    with pytest.raises(JobInvalid) as info:
        parse_job({"scenes": [scene(transition="dissolve"), scene()]}, tmp_path)
    assert info.value.field == "scenes[0].transition" and "crossfade" in str(info.value)
    # a scene's own spanning transition counts for the duration check even when the default is a cut
    with pytest.raises(JobInvalid, match="half of the shortest scene"):
        parse_job({"scenes": [scene(duration=1, transition="crossfade"), scene(duration=1)],
                   "video": {"transition": "cut", "transition_duration": 0.8}}, tmp_path)
    parse_job({"scenes": [scene(duration=1), scene(duration=1)],
               "video": {"transition": "cut", "transition_duration": 0.8}}, tmp_path)


def test_a_scene_kind_declares_its_fields_and_the_job_model_reads_them(tmp_path):
    @scenes.scene_kind("test_panel", params={
        "shade": Param(check=number(0, 1), default=0.5, aliases=("tint",)),
        "edge": Param(check=one_of("soft", "hard"), required=True),
        "badge": Param(asset="image")})
    class Panel:
        def __init__(self, visual):
            pass

    (tmp_path / "badge.png").write_bytes(b"png")
    try:
        job = parse_job({"scenes": [scene(type="test_panel", tint=0.25, edge="hard", badge="badge.png")]}, tmp_path)
        s = job.scenes[0]
        assert s.param("shade") == 0.25 and s.param("edge") == "hard"
        assert s.param("badge").path == (tmp_path / "badge.png").resolve()   # an asset: checked like any other
        problems = validate_job({"scenes": [scene(type="test_panel", shade=3, badge="../x.png"),
                                            scene(shade=0.1)]}, tmp_path, **PROVIDERS)
        fields = {p["field"]: p["message"] for p in problems}
        assert "between 0 and 1" in fields["scenes[0].shade"]
        assert "required" in fields["scenes[0].edge"]
        assert ".." in fields["scenes[0].badge"]
        assert "only for scenes of type test_panel" in fields["scenes[1].shade"]
        with pytest.raises(JobInvalid, match="did you mean 'shade'"):
            parse_job({"scenes": [scene(type="test_panel", edge="soft", shad=1)]}, tmp_path)
    finally:
        unregister(scenes.SOURCES, "test_panel")
    with pytest.raises(JobInvalid, match="unknown field"):
        parse_job({"scenes": [scene(shade=0.5)]}, tmp_path)


def test_the_fields_a_kind_owns_are_refused_on_other_kinds(tmp_path):
    with pytest.raises(JobInvalid) as info:
        parse_job({"scenes": [scene(video_url="clip.mp4")]}, tmp_path)
    assert info.value.field == "scenes[0].video_url" and "only for scenes of type video" in str(info.value)
    with pytest.raises(JobInvalid, match="only for scenes of type video; this scene is of type image"):
        parse_job({"scenes": [scene(volume=0.5)]}, tmp_path)


def test_overlays_are_items_of_a_declared_type(tmp_path):
    @overlays.overlay("test_stamp", z=50, params={"size": Param(check=number(0, 1), default=0.1),
                                                  "image": Param(asset="image", required=True)})
    class Stamp:
        def __init__(self, use, canvas):
            pass

    (tmp_path / "s.png").write_bytes(b"png")
    try:
        job = parse_job({"scenes": [scene()], "overlays": [{"type": "test_stamp", "image": "s.png"}]}, tmp_path)
        (item,) = job.overlays
        assert item.type == "test_stamp" and item.param("size") == 0.1 and item.path == "overlays[0]"
        problems = validate_job({"scenes": [scene()], "overlays": [
            {"type": "test_stamp"}, {"type": "sparkles"}, "logo", {"type": "test_stamp", "image": "s.png",
                                                                  "sise": 0.2}]}, tmp_path, **PROVIDERS)
        fields = {p["field"]: p["message"] for p in problems}
        assert "required" in fields["overlays[0].image"]
        assert "test_stamp" in fields["overlays[1].type"]
        assert "must be an object" in fields["overlays[2]"]
        assert "did you mean 'size'" in fields["overlays[3].sise"]
    finally:
        unregister(overlays.OVERLAYS, "test_stamp")
    with pytest.raises(JobInvalid, match="overlays: must be a list"):
        parse_job({"scenes": [scene()], "overlays": {"type": "x"}}, tmp_path)


def test_a_cache_key_refuses_a_path_instead_of_keying_a_file_by_its_name(tmp_path):
    with pytest.raises(TypeError, match="file_md5"):
        make_key("piece", logo=tmp_path / "logo.png")
    with pytest.raises(TypeError):
        make_key("piece", thing=object())    # no str() fallback: every part is plain data
