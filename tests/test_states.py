"""Job states and outcomes: the names SPEC gives, usable as plain strings in JSON."""
import json

from jobmodel.states import JobState, Outcome


def test_job_states_are_the_spec_names():
    assert [s.value for s in JobState] == ["queued", "started", "finished", "failed", "cancelled"]
    assert json.loads(json.dumps({"state": JobState.CANCELLED})) == {"state": "cancelled"}
    assert JobState("started") is JobState.STARTED and f"{JobState.FAILED}" == "failed"
    assert {s for s in JobState if s.is_final} == {JobState.FINISHED, JobState.FAILED,
                                                   JobState.CANCELLED}


def test_outcomes_are_the_metric_labels():
    assert {o.value for o in Outcome} == {"done", "invalid", "transient", "failed", "cancelled"}
    assert str(Outcome.TRANSIENT) == "transient"
