"""The title lists show for a job (dashboard, `list`): the first scene's title overlay in either
of the forms the job model accepts, else the output file name; never an error."""
from __future__ import annotations

from jobmodel.title import job_title


def test_title_from_the_overlay_object_or_the_shorthand():
    assert job_title({"scenes": [{"text": {"content": "  Morning  "}}]}) == "Morning"
    assert job_title({"scenes": [{"text": "Evening news"}]}) == "Evening news"


def test_title_falls_back_to_the_output_name_then_nothing():
    assert job_title({"output_filename": "reel.mp4", "scenes": [{"text": "   "}]}) == "reel.mp4"
    assert job_title({"output_filename": "reel.mp4", "scenes": [{"narration_text": "Hi"}]}) == "reel.mp4"
    for junk in (None, [], "text", {"scenes": "x"}, {"scenes": [None]}, {"scenes": [{"text": 5}]},
                 {"output_filename": 7}):
        assert job_title(junk) == ""


def test_title_is_cut_to_300_characters():
    assert len(job_title({"scenes": [{"text": "x" * 1000}]})) == 300
