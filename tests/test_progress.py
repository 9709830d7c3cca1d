"""Truthful progress: a real render names its steps in order, percent only goes forward and reaches
100 at the end, the bar and the label are one figure; the ETA follows the pace seen, drops for work
found in the cache and never reads 0 while a step runs over its time (an injected clock, no sleeps)."""
from __future__ import annotations

import pytest

from protovideo.pipeline.jobcheck import JobChecker
from protovideo.pipeline.pace import Pace
from protovideo.pipeline.progress import ProgressTracker
from protovideo.pipeline.render import make_context, render_job
from protovideo.pipeline.workplan import WorkPlan

# the order a user reads, written out here rather than taken from the module
ORDER = ["narration", "pictures", "scenes", "transitions", "soundtrack", "join", "qc", "publish", "done"]


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Seen:
    def __init__(self):
        self.reports: list[dict] = []

    def __call__(self, done, total, what, **more):
        self.reports.append({"done": done, "total": total, "what": what, **more})


def plan_for(make_settings, scenes=4, quality="draft", narration=False, size=(270, 480)):
    settings = make_settings()
    job = {"id": "plan", "video": {"width": size[0], "height": size[1], "fps": 12, "quality": quality,
                                   "transition": "crossfade", "transition_duration": 0.5},
           "scenes": [{"duration": 2, "motion": "none",
                       **({"narration_text": "A short sentence to say."} if narration else {})}
                      for _ in range(scenes)]}
    return WorkPlan(JobChecker(settings).parse(job), qc=True)


def tracker_for(plan, pace=1.0):
    clock, seen = Clock(), Seen()
    tracker = ProgressTracker(seen, clock=clock, tick_s=None)
    tracker.start(plan, Pace(pace))
    return tracker, clock, seen


def run_unit(tracker, clock, key, seconds):
    """Unit `key` runs `seconds` on the clock (a piece frame by frame)."""
    unit = tracker.plan.units[key]
    tracker.begin(key)
    for _ in range(unit.frames):
        clock.now += seconds / unit.frames
        tracker.frames(key)
    if not unit.frames:
        clock.now += seconds
    tracker.end(key)


def test_before_any_work_the_eta_is_the_plan_at_the_learnt_pace(make_settings):
    plan = plan_for(make_settings)
    tracker, _, _ = tracker_for(plan, pace=2.0)
    assert tracker.eta() == pytest.approx(2.0 * sum(u.cost for u in plan.units.values()))


def test_the_pace_seen_in_the_job_takes_over_from_the_learnt_one(make_settings):
    plan = plan_for(make_settings, scenes=10, quality="high", size=(1080, 1920))
    tracker, clock, _ = tracker_for(plan, pace=1.0)      # earlier jobs: as the table says
    bodies = [k for k in plan.units if k.startswith("body:")]
    for key in bodies[:-1]:                               # this machine is 3x slower today
        run_unit(tracker, clock, key, 3.0 * plan.units[key].cost)
    left = sum(u.cost for k, u in plan.units.items() if k not in bodies[:-1])
    assert 2.4 * left < tracker.eta() <= 3.0 * left + 1e-6   # mostly the seen pace, never beyond it


def test_work_found_in_the_cache_costs_nothing(make_settings):
    plan = plan_for(make_settings)
    tracker, _, seen = tracker_for(plan)
    before = tracker.eta()
    pieces = [k for k, u in plan.units.items() if u.lane in ("scenes", "transitions")]
    for key in pieces:
        tracker.settle(key)                               # never begun: the cache had it
    assert tracker.eta() == pytest.approx(before - sum(plan.units[k].cost for k in pieces))
    assert seen.reports[-1]["percent"] == seen.reports[0]["percent"] == 0.0   # no time has passed


def test_a_step_running_over_its_time_never_shows_an_eta_of_zero(make_settings):
    plan = plan_for(make_settings, scenes=1)
    tracker, clock, seen = tracker_for(plan)
    for key, unit in plan.units.items():
        if unit.lane in ("narration", "pictures", "scenes", "transitions", "soundtrack"):
            run_unit(tracker, clock, key, unit.cost)
    tracker.begin("join")
    expected = plan.units["join"].cost
    etas, percents = [], []
    for minutes in (1, 2, 5):                             # the join hangs for minutes
        clock.now += 60.0 * minutes
        snap = tracker.snapshot()
        etas.append(snap.eta_s)
        percents.append(snap.percent)
    assert all(eta > expected for eta in etas) and etas == sorted(etas)   # it grows, never 0
    assert percents == sorted(percents) and max(percents) < 100.0
    assert tracker.snapshot().what == "join"


def test_percent_never_goes_back_when_the_eta_grows(make_settings):
    plan = plan_for(make_settings, scenes=4)
    tracker, clock, seen = tracker_for(plan)
    bodies = [k for k in plan.units if k.startswith("body:")]
    run_unit(tracker, clock, bodies[0], plan.units[bodies[0]].cost)          # on time
    percent_then = tracker.snapshot().percent
    run_unit(tracker, clock, bodies[1], 20 * plan.units[bodies[1]].cost)     # then far slower
    assert tracker.snapshot().percent >= percent_then
    assert all(b["percent"] >= a["percent"] for a, b in zip(seen.reports, seen.reports[1:]))


def test_a_real_render_tells_its_steps_in_order_and_the_bar_agrees_with_the_label(make_settings):
    settings = make_settings()
    job = JobChecker(settings).parse({
        "id": "told", "video": {"width": 270, "height": 480, "fps": 12, "quality": "draft",
                                "transition": "crossfade", "transition_duration": 0.5},
        "scenes": [{"narration_text": "The first scene says a few words.", "motion": "none"},
                   {"narration_text": "The second one says a few more words.", "motion": "zoom_in"},
                   {"narration_text": "And the third one ends it.", "motion": "none"}]})
    seen = Seen()
    ctx = make_context(settings, progress=seen)
    result = render_job(job, ctx)
    reports = seen.reports
    assert reports[-1]["what"] == "done" and reports[-1]["percent"] == 100.0 and reports[-1]["eta_s"] == 0.0
    running = reports[:-1]
    assert running and all(r["percent"] < 100.0 for r in running)
    percents = [r["percent"] for r in reports]
    assert percents == sorted(percents), "percent went back"
    for r in reports:   # one figure: done/total is the percent, in thousandths of the job
        assert r["total"] == 1000 and r["percent"] == pytest.approx(100.0 * r["done"] / r["total"])
        assert r["step"] in ORDER
        label = r["what"]
        if r["step"] == "scenes":
            assert label.startswith("scene ") and label.endswith(" of 3")
        elif r["step"] == "narration":
            assert label.startswith("narration ") and label.endswith(" of 3")
        else:
            assert label == {"qc": "QC"}.get(r["step"], r["step"])
    assert all(r["eta_s"] is not None and r["eta_s"] > 0 for r in running), "an ETA of 0 before the end"
    steps = [r["step"] for r in reports]
    distinct = [s for i, s in enumerate(steps) if i == 0 or s != steps[i - 1]]
    assert [ORDER.index(s) for s in distinct] == sorted(ORDER.index(s) for s in distinct), distinct
    for needed in ("narration", "scenes", "join", "qc", "publish", "done"):
        assert needed in distinct, distinct
    scenes = [int(r["what"].split()[1]) for r in reports if r["step"] == "scenes"]
    assert scenes == sorted(scenes) and scenes[-1] <= 3
    # the plan learnt each scene's real length from its narration (its pieces costed by it)
    assert ctx.tracker.plan.frames == [entry["frames"] for entry in result.report["timeline"]]
    kept = result.report["progress"]
    assert kept["wall_s"] > 0 and kept["reference_s"] > 0 and "scenes" in kept["lanes"]
