"""Model registry: load once under contention, serialized use, unload hooks for the memory watch."""
from __future__ import annotations

import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from generators.models import MODELS, ModelRegistry, free_gpu_memory


class SlowModel:
    """Loads slowly and notices when two threads run inference on it at once."""

    def __init__(self):
        time.sleep(0.05)
        self.inside = 0
        self.overlaps = 0
        self.calls = 0

    def infer(self):
        self.inside += 1
        if self.inside > 1:
            self.overlaps += 1
        time.sleep(0.002)
        self.calls += 1
        self.inside -= 1


def test_twenty_threads_load_a_model_exactly_once_and_never_overlap_inference():
    registry = ModelRegistry()
    key = ("tts", "slow", "cpu", "fp32")
    gate = threading.Barrier(20)

    def scene(_):
        gate.wait()
        with registry.use(key, SlowModel) as model:
            model.infer()
            return model

    with ThreadPoolExecutor(max_workers=20) as pool:
        models = list(pool.map(scene, range(20)))
    assert registry.load_counts == {key: 1}
    assert len({id(m) for m in models}) == 1
    assert models[0].calls == 20 and models[0].overlaps == 0


def test_different_devices_or_dtypes_are_different_models():
    registry = ModelRegistry()
    a = registry.get(("image", "m", "cpu", "fp32"), object)
    b = registry.get(("image", "m", "cuda:0", "fp16"), object)
    assert a is not b
    assert registry.get(("image", "m", "cpu", "fp32"), object) is a
    assert sorted(registry.load_counts.values()) == [1, 1]


def test_a_failed_load_is_not_remembered_and_can_be_retried():
    registry = ModelRegistry()
    attempts = []

    def flaky():
        attempts.append(1)
        if len(attempts) == 1:
            raise OSError("disk hiccup")
        return "model"

    with pytest.raises(OSError):
        registry.get("k", flaky)
    assert registry.loaded() == []
    assert registry.get("k", flaky) == "model"
    assert registry.load_counts == {"k": 1}


def test_unload_forgets_the_model_and_the_next_use_loads_it_again():
    registry = ModelRegistry()
    first = registry.get("k", object)
    assert registry.unload("k") is True
    assert registry.unload("k") is False
    assert registry.loaded() == []
    assert registry.get("k", object) is not first
    assert registry.load_counts["k"] == 2


def test_unload_least_recently_used_skips_models_in_use():
    registry = ModelRegistry()
    registry.get("old", object)
    time.sleep(0.01)
    registry.get("new", object)
    with registry.use("old", object):
        # "old" is busy: the least recently used idle one is "new"
        assert registry.unload_least_recently_used() == "new"
        assert registry.unload_least_recently_used() is None
    assert registry.unload_least_recently_used() == "old"
    assert registry.loaded() == []


def test_unload_idle_drops_only_models_unused_for_that_long():
    registry = ModelRegistry()
    registry.get("stale", object)
    time.sleep(0.05)
    registry.get("fresh", object)
    assert registry.unload_idle(0.03) == ["stale"]
    assert registry.loaded() == ["fresh"]
    assert registry.unload_all() == 1


def test_the_global_registry_keeps_its_interface():
    key = ("test", "global-registry", "cpu", "fp32")
    try:
        with MODELS.use(key, dict) as model:
            assert model == {}
        assert key in MODELS.loaded() and MODELS.load_counts[key] == 1
    finally:
        MODELS.unload(key)


def test_free_gpu_memory_never_imports_torch():
    code = ("import sys; from generators.models import free_gpu_memory; "
            "assert free_gpu_memory() is False; assert 'torch' not in sys.modules; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=str(__import__("pathlib").Path(__file__).resolve().parent.parent))
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_free_gpu_memory_is_safe_on_a_cpu_only_torch():
    import torch
    assert free_gpu_memory() == (torch.cuda.is_available() and torch.cuda.is_initialized())
