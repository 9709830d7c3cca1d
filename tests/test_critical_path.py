"""The critical path: the chain of step intervals a job's end waited for (hand-made timelines)."""
from __future__ import annotations

from protovideo.pipeline.critical_path import Interval, chain, critical_path


def _names(links):
    return [(i.step, i.scene) for i in links]


def test_the_chain_walks_back_from_the_last_end_through_what_each_link_waited_for():
    # narration one scene after another; each body starts when its scene's narration ends;
    # the join waits for the last body and the soundtrack
    steps = [Interval("tts", 0, 0.0, 1.0), Interval("tts", 1, 1.0, 3.0),
             Interval("render_scene", 0, 1.0, 1.8),           # off the chain: done early
             Interval("render_scene", 1, 3.05, 4.0),
             Interval("audio_mix", None, 3.0, 3.5),           # ended before the last body
             Interval("mux", None, 4.0, 4.2), Interval("poster", None, 4.25, 4.3)]
    links = chain(steps)
    assert _names(links) == [("tts", 0), ("tts", 1), ("render_scene", 1), ("mux", None),
                             ("poster", None)]
    path = critical_path(steps, total=4.4)
    assert path["total"] == 4.4
    assert path["in_steps"] == round(1.0 + 2.0 + 0.95 + 0.2 + 0.05, 4)
    assert path["between_steps"] == round(4.4 - path["in_steps"], 4)
    assert path["steps"][2] == {"step": "render_scene", "scene": 1, "start": 3.05, "end": 4.0}


def test_a_step_still_running_when_a_link_started_is_not_on_the_chain():
    outer = Interval("pictures", None, 0.0, 5.0)     # ran beside everything, ended before mux
    inner = Interval("image_generation", None, 1.0, 2.0)
    mux = Interval("mux", None, 5.0, 6.0)
    tts = Interval("tts", 0, 0.0, 4.0)
    assert _names(chain([outer, inner, mux, tts])) == [("pictures", None), ("mux", None)]
    # the generation inside `pictures` ended before mux started, but `pictures` ended later
    assert _names(chain([inner, mux, tts])) == [("tts", 0), ("mux", None)]


def test_steps_that_overlap_the_link_are_skipped_and_gaps_count_between_steps():
    steps = [Interval("a", None, 0.0, 1.0), Interval("b", None, 0.5, 2.5),
             Interval("c", None, 2.0, 3.0)]   # c started while b ran: it waited for a at most
    path = critical_path(steps, total=3.0)
    assert [s["step"] for s in path["steps"]] == ["a", "c"]
    assert path["in_steps"] == 2.0 and path["between_steps"] == 1.0


def test_no_steps_is_an_empty_path_of_the_whole_job():
    assert critical_path([], total=1.5) == {"total": 1.5, "in_steps": 0.0, "between_steps": 1.5,
                                            "steps": []}
    assert _names(chain([Interval("x", None, 1.0, 1.0), Interval("y", None, 1.0, 1.0)])) \
        in ([("x", None), ("y", None)], [("y", None), ("x", None)])


def test_a_real_render_whose_last_narration_is_held_has_that_narration_on_its_path(make_settings,
                                                                                   tmp_path):
    """A seam in the job's steps holds the narration of the last scene until every piece
    started before it is done, then 0.3 s more: everything after it waited for it."""
    import time

    from job_parsing import parse_job
    from protovideo.pipeline.render import make_context, render_job
    from several_jobs_helpers import spoken_job

    ctx = make_context(make_settings(MAX_WORKERS=1))

    def steps():
        return [(i["step"], i["scene"]) for i in ctx.optimizer.get_performance_report()["intervals"]]

    def hold(job_id, step, scene):
        if (step, scene) == ("tts_synthesis", 2):
            deadline = time.monotonic() + 120   # only bounds a hang
            while ("render_scene", 0) not in steps() or ("render_transition", None) not in steps():
                assert time.monotonic() < deadline, steps()
                time.sleep(0.02)
            time.sleep(0.3)

    ctx.optimizer.on_step_start = hold
    result = render_job(parse_job(spoken_job("held", scenes=3), tmp_path), ctx)
    path = result.report["critical_path"]
    names = [(s["step"], s["scene"]) for s in path["steps"]]
    assert ("tts_synthesis", 2) in names and ("mux", None) in names   # the join waited for it
    last = max(result.report["intervals"], key=lambda i: i["end"])     # the job's last step
    assert names[-1] == (last["step"], last["scene"])
    assert ("render_scene", 0) not in names              # it was done while the voice was held
    held = path["steps"][names.index(("tts_synthesis", 2))]
    assert held["end"] - held["start"] >= 0.3
    for before, after in zip(path["steps"], path["steps"][1:]):   # a chain: one after another
        assert after["start"] >= before["end"] - 0.001
    assert path["total"] == result.report["total_time"]
    assert abs(path["in_steps"] + path["between_steps"] - path["total"]) < 0.001
