"""diffusers provider on a tiny random Stable Diffusion pipeline built by the test session."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from cache import make_key, open_cache
from generators.images import ImageRequest
from generators.images_diffusers import MAX_BATCH, DiffusersImageProvider, create_provider, memory_plan
from generators.models import ModelRegistry
from jobmodel.errors import JobInvalid, ProviderUnavailable
from tests.tiny_models import tiny_sd_pipeline  # noqa: F401  (session fixture)


@pytest.fixture
def provider(make_settings, tiny_sd_pipeline):  # noqa: F811
    settings = make_settings(DIFFUSERS_MODEL=str(tiny_sd_pipeline), IMAGE_DEVICE="cpu")
    return DiffusersImageProvider(settings, registry=ModelRegistry())


def _request(prompt="a red fox in the snow", seed=7, **kw):
    return ImageRequest(prompt=prompt, width=kw.pop("width", 64), height=kw.pop("height", 64),
                        steps=kw.pop("steps", 2), seed=seed, **kw)


def _pixels(image):
    return np.asarray(image, dtype=np.int16)


def test_loads_the_local_pipeline_and_generates_rgb_images_of_the_requested_size(provider):
    images = provider.generate([_request(width=64, height=48)])
    assert len(images) == 1
    assert images[0].mode == "RGB" and images[0].size == (64, 48)
    assert _pixels(images[0]).std() > 0  # a real decoded picture, not a flat fill
    key = provider.model_key(provider.resolve_model(""))
    assert key[3:] == ("cpu", "fp32")
    assert provider.registry.load_counts[key] == 1
    assert provider.registry.loaded() == [key]


def test_create_provider_uses_the_settings(make_settings, tiny_sd_pipeline):  # noqa: F811
    made = create_provider(make_settings(DIFFUSERS_MODEL=str(tiny_sd_pipeline), IMAGE_DEVICE="cpu"))
    assert made.name == "diffusers"
    assert made.resolve_model("") == str(tiny_sd_pipeline.resolve())


def test_a_fixed_seed_gives_the_same_picture_and_another_seed_a_different_one(provider):
    first = provider.generate([_request(seed=11)])[0]
    again = provider.generate([_request(seed=11)])[0]
    other = provider.generate([_request(seed=12)])[0]
    assert np.array_equal(_pixels(first), _pixels(again))
    assert not np.array_equal(_pixels(first), _pixels(other))


def test_requests_sharing_settings_are_batched_into_one_pipeline_call(provider):
    requests = [_request("a lighthouse", seed=1), _request("a forest", seed=2),
                _request("a desert", seed=3), _request("a city", seed=4, width=48, height=64)]
    images = provider.generate(requests)
    assert provider.calls == 2  # three 64x64 requests in one call, the 48x64 one in another
    assert [im.size for im in images] == [(64, 64)] * 3 + [(48, 64)]
    # each image in the batch is the one its own seed gives when generated alone
    alone = provider.generate([_request("a forest", seed=2)])[0]
    assert np.abs(_pixels(images[1]) - _pixels(alone)).max() <= 2
    assert not np.array_equal(_pixels(images[0]), _pixels(images[1]))


def test_twenty_parallel_scenes_load_the_pipeline_exactly_once(provider):
    start = threading.Barrier(20)

    def scene(index):
        start.wait()
        return provider.generate([_request(f"scene {index}", seed=index)])[0]

    with ThreadPoolExecutor(max_workers=20) as pool:
        images = list(pool.map(scene, range(20)))
    key = provider.model_key(provider.resolve_model(""))
    assert provider.registry.load_counts == {key: 1}
    # requests waiting while the pipeline is busy go in together, at most MAX_BATCH a call
    assert -(-20 // MAX_BATCH) <= provider.calls <= 20
    assert all(im.size == (64, 64) for im in images)
    # whoever it was batched with, every scene got its own picture, same as a lone call
    for index in (0, 5, 19):
        alone = provider.generate([_request(f"scene {index}", seed=index)])[0]
        assert np.abs(_pixels(images[index]) - _pixels(alone)).max() <= 2


def test_cached_pictures_are_not_generated_again(provider, make_settings):
    cache = open_cache(make_settings())
    request = _request("a quiet harbour", seed=3)

    def picture():
        key = make_key("image", **provider.identity(request))
        return cache.get_or_create(key, ".png", lambda tmp: provider.generate([request])[0].save(tmp, "PNG"))

    first = picture()
    second = picture()
    assert first == second and first.is_file()
    assert provider.calls == 1
    assert cache.stats()["hits"] >= 1


def test_identity_changes_with_every_setting_that_changes_the_picture(provider):
    base = provider.identity(_request())
    assert base["model_version"] != "hub"
    for changed in (_request(seed=8), _request(prompt="x"), _request(steps=3), _request(width=72),
                    _request(negative_prompt="blur"), _request(guidance_scale=2.0)):
        assert provider.identity(changed) != base


def test_job_model_must_be_a_hub_id_not_a_local_folder(provider, tmp_path):
    assert provider.resolve_model("stabilityai/sd-turbo") == "stabilityai/sd-turbo"
    with pytest.raises(JobInvalid) as caught:
        provider.resolve_model(str(tmp_path))
    assert caught.value.field == "image.model"
    with pytest.raises(JobInvalid):
        provider.resolve_model("../models/x")


def test_a_missing_model_folder_names_the_setting(make_settings, tmp_path):
    provider = DiffusersImageProvider(
        make_settings(DIFFUSERS_MODEL=str(tmp_path / "no-such-model"), IMAGE_DEVICE="cpu"),
        registry=ModelRegistry())
    with pytest.raises(ProviderUnavailable) as caught:
        provider.generate([_request()])
    assert caught.value.field == "DIFFUSERS_MODEL"
    assert "no-such-model" in str(caught.value)


def test_a_folder_that_is_not_a_pipeline_fails_with_the_model_named(make_settings, tmp_path):
    empty = tmp_path / "empty-model"
    empty.mkdir()
    provider = DiffusersImageProvider(make_settings(DIFFUSERS_MODEL=str(empty), IMAGE_DEVICE="cpu"),
                                      registry=ModelRegistry())
    with pytest.raises(ProviderUnavailable) as caught:
        provider.generate([_request()])
    assert caught.value.field == "DIFFUSERS_MODEL"
    assert "empty-model" in str(caught.value)
    assert provider.registry.loaded() == []


def test_memory_plan_slices_or_offloads_when_gpu_memory_is_short():
    assert memory_plan(None) == "full"
    assert memory_plan(40000) == "full"
    assert memory_plan(8000) == "slicing"
    assert memory_plan(2000) == "offload"


def test_a_job_model_that_cannot_be_loaded_names_image_model(make_settings, tiny_sd_pipeline, monkeypatch):  # noqa: F811
    import huggingface_hub.constants
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # no network here: the hub id cannot be fetched
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    provider = DiffusersImageProvider(make_settings(DIFFUSERS_MODEL=str(tiny_sd_pipeline), IMAGE_DEVICE="cpu"),
                                      registry=ModelRegistry())
    with pytest.raises(ProviderUnavailable) as caught:
        provider.generate([_request(model="protovideo-tests/no-such-model")])
    assert caught.value.field == "image.model"
    assert "protovideo-tests/no-such-model" in str(caught.value)
