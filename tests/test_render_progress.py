"""A render tells its progress on one scale: scenes rendered of the job's scenes, never backwards."""
from __future__ import annotations

from job_parsing import parse_job
from protovideo.pipeline.render import make_context, render_job


def test_progress_counts_scenes_rendered_and_never_goes_back(make_settings, tmp_path):
    calls = []
    job = parse_job({"id": "progress", "video": {"width": 160, "height": 284, "fps": 12,
                                                 "transition": "crossfade", "transition_duration": 0.3,
                                                 "quality": "draft"},
                     "scenes": [{"duration": 1, "motion": "none"} for _ in range(5)]}, tmp_path)
    ctx = make_context(make_settings(), progress=lambda done, total, what: calls.append((done, total, what)))
    render_job(job, ctx)
    assert {total for _, total, _ in calls} == {5}, calls
    done = [d for d, _, _ in calls]
    assert done == sorted(done), f"progress went backwards: {calls}"
    assert done[0] == 0 and calls[-1] == (5, 5, "done")
    assert set(range(6)) <= set(done), f"some scenes were never reported: {calls}"
