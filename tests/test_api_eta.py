"""A queued job's ETA comes from its place in the queue: the work ahead of it (claim order:
priority, then submission) over the workers seen, plus its own; a running job's is its worker's."""
from __future__ import annotations

import pytest

from protovideo.service.api.eta import EtaModel
from protovideo.service.sources.spool import SpoolSource


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def job(job_id: str, priority: str = "normal") -> dict:
    return {"id": job_id, "priority": priority,
            "video": {"width": 270, "height": 480, "fps": 12, "quality": "standard"},
            "scenes": [{"duration": 2, "motion": "none"}, {"duration": 3, "motion": "none"}]}


def etas(model, source, ids):
    return [model.queued(source.get(i)) for i in ids]


def test_a_queued_job_waits_for_the_jobs_ahead_of_it(make_settings):
    settings = make_settings()
    source = SpoolSource(settings, worker_name="w1")
    clock = Clock()
    model = EtaModel(settings, source, clock=clock)
    normal = [f"n{i}" for i in range(4)]
    for job_id in normal:
        source.submit(job(job_id))
    own = model.predicted("n0", source.get("n0").job)
    assert own and own > 0
    queued = etas(model, source, normal)
    assert queued == sorted(queued) and len(set(queued)) == len(queued), queued   # grows with the jobs ahead
    assert queued[0] == pytest.approx(own, abs=0.2)        # nothing ahead: its own time
    assert queued[3] == pytest.approx(4 * own, abs=0.5)    # three alike ahead, one worker
    source.submit(job("urgent", priority="high"))           # submitted last, claimed first
    clock.now += 10
    assert model.queued(source.get("urgent")) == pytest.approx(own, abs=0.2)
    assert all(a > b for a, b in zip(etas(model, source, normal), queued))   # now behind it too


def test_running_jobs_time_left_is_shared_by_the_workers_seen(make_settings):
    settings = make_settings()
    first, second = SpoolSource(settings, worker_name="w1"), SpoolSource(settings, worker_name="w2")
    clock = Clock()
    model = EtaModel(settings, first, clock=clock)
    for job_id in ("r1", "r2", "waiting"):
        first.submit(job(job_id))
    own = model.predicted("waiting", first.get("waiting").job)
    one = first.claim()
    one.progress = {"done": 500, "total": 1000, "what": "scene 1 of 2", "eta_s": 30.0}
    first.heartbeat(one)
    clock.now += 10
    assert model.queued(first.get("waiting")) == pytest.approx(30.0 + own + own, abs=0.3)   # r2 ahead, one worker
    two = second.claim()
    two.progress = {"done": 100, "total": 1000, "what": "narration 1 of 2", "eta_s": 90.0}
    second.heartbeat(two)
    clock.now += 10
    # two workers now: the 120 s they have left is done two at a time
    assert model.queued(first.get("waiting")) == pytest.approx(120.0 / 2 + own, abs=0.3)
    assert model.running(first.get(one.id)) == 30.0


def test_idle_workers_seen_share_the_queue(make_settings):
    settings = make_settings()
    source = SpoolSource(settings, worker_name="w1")
    clock = Clock()
    model = EtaModel(settings, source, clock=clock)
    for job_id in ("a", "b"):
        source.submit(job(job_id))
    own = model.predicted("b", source.get("b").job)
    assert model.queued(source.get("b")) == pytest.approx(2 * own, abs=0.3)   # one worker: after "a"
    for name in ("w1", "w2"):                  # two workers beat (the presence middleware's list)
        source.worker_seen(name, {"host": "here", "state": "idle", "jobs": []})
    clock.now += 10
    assert model.queued(source.get("b")) == pytest.approx(own / 2 + own, abs=0.3)


def test_a_job_queued_since_the_last_look_has_an_eta_at_once(make_settings):
    settings = make_settings()
    source = SpoolSource(settings, worker_name="w1")
    clock = Clock()
    model = EtaModel(settings, source, clock=clock)
    source.submit(job("first"))
    own = model.predicted("first", source.get("first").job)
    assert model.queued(source.get("first")) == pytest.approx(own, abs=0.2)   # the queue looked at
    source.submit(job("later", priority="low"))
    clock.now += 1.0                                   # within the look's lifetime, past FRESH_S
    assert model.queued(source.get("later")) == pytest.approx(2 * own, abs=0.3)
