"""The model registry across jobs: calls of several callers batched into one, models shared
without a lock, never two loads (MAX_JOBS: every job of a process uses the same registry)."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from daemon_helpers import wait_for
from generators.models import ModelRegistry

KEY = ("image", "stand-in", "cpu", "fp32")


class Pipe:
    """A stand-in pipeline: upper-cases its prompts; its first call waits for `release`."""

    def __init__(self):
        self.calls: list[list[str]] = []
        self.entered = threading.Event()
        self.release = threading.Event()

    def __call__(self, items: list[str]) -> list[str]:
        self.calls.append(list(items))
        if len(self.calls) == 1:
            self.entered.set()
            assert self.release.wait(60), "the test never released the first call"
        if any(item == "bad" for item in items):
            raise RuntimeError("this batch cannot be made")
        return [item.upper() for item in items]


def _caller(registry, pipe, group, items, out, max_batch=8):
    def run():
        try:
            out[tuple(items)] = registry.batched(KEY, lambda: pipe, group, items,
                                                 lambda model, batch: model(batch), max_batch)
        except Exception as exc:  # noqa: BLE001 - the test looks at it
            out[tuple(items)] = exc
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def _queue_behind_a_busy_call(registry, pipe, asks, max_batch=8):
    """The first caller takes the model and waits inside its call; then `asks` (group, items)
    queue behind it, one after another; then the first call is released."""
    out: dict = {}
    threads = [_caller(registry, pipe, "g", ["first"], out, max_batch)]
    assert pipe.entered.wait(60)
    for number, (group, items) in enumerate(asks, start=1):
        threads.append(_caller(registry, pipe, group, items, out, max_batch))
        wait_for(lambda: registry.queued(KEY) == number, timeout=60, what=f"ask {number} to queue")
    pipe.release.set()
    for thread in threads:
        thread.join(60)
    return out


def test_callers_waiting_while_the_model_is_busy_go_in_one_call():
    registry, pipe = ModelRegistry(), Pipe()
    out = _queue_behind_a_busy_call(registry, pipe, [("g", ["b1", "b2"]), ("g", ["c"]),
                                                     ("other size", ["d"])])
    assert pipe.calls[0] == ["first"]
    # b and c share a group: one call, oldest first; d cannot share a call with them
    assert sorted(pipe.calls[1:]) == [["b1", "b2", "c"], ["d"]]
    assert out == {("first",): ["FIRST"], ("b1", "b2"): ["B1", "B2"], ("c",): ["C"], ("d",): ["D"]}
    assert registry.load_counts == {KEY: 1}


def test_a_batch_takes_at_most_max_batch_items_oldest_first():
    registry, pipe = ModelRegistry(), Pipe()
    out = _queue_behind_a_busy_call(registry, pipe, [("g", ["a1", "a2"]), ("g", ["b1", "b2"]),
                                                     ("g", ["c1", "c2"])], max_batch=4)
    assert pipe.calls == [["first"], ["a1", "a2", "b1", "b2"], ["c1", "c2"]]
    assert out[("c1", "c2")] == ["C1", "C2"]


def test_the_error_of_a_combined_call_reaches_each_of_its_callers_only():
    registry, pipe = ModelRegistry(), Pipe()
    out = _queue_behind_a_busy_call(registry, pipe, [("g", ["bad"]), ("g", ["fine"]),
                                                     ("g", ["later"])], max_batch=2)
    assert pipe.calls == [["first"], ["bad", "fine"], ["later"]]
    assert isinstance(out[("bad",)], RuntimeError) and isinstance(out[("fine",)], RuntimeError)
    assert out[("later",)] == ["LATER"]


def test_a_shared_model_is_loaded_once_and_used_by_several_callers_at_once():
    registry = ModelRegistry()
    inside = threading.Barrier(4)   # passes only when four callers are inside at the same time

    def call(_):
        with registry.share(KEY, object) as model:
            inside.wait(timeout=60)
            return model

    with ThreadPoolExecutor(max_workers=4) as pool:
        models = list(pool.map(call, range(4)))
    assert len({id(m) for m in models}) == 1 and registry.load_counts == {KEY: 1}


def test_a_model_in_shared_use_is_never_unloaded_by_the_memory_watch():
    registry = ModelRegistry()
    with registry.share(KEY, object):
        assert registry.unload_least_recently_used() is None
        assert registry.unload_idle(0) == []
    assert registry.unload_least_recently_used() == KEY


def test_nothing_to_batch_is_no_call():
    registry, pipe = ModelRegistry(), Pipe()
    assert registry.batched(KEY, lambda: pipe, "g", [], lambda m, b: m(b), 8) == []
    assert pipe.calls == [] and registry.load_counts == {}
