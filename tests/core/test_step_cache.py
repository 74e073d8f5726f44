"""Step caches (diffusers' FirstBlockCache, TaylorSeer, MagCache) on a tiny Flux transformer: opt-in per job, they
change the picture a little (lossy) and skip transformer work, are named in the infotext, and leave the next job
without a cache exactly as before. Refused for UNet models and for unknown names."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from modules.core.infotext import parse_infotext
from modules.core.requests import GenerationRequest, RequestError
from modules.core.validation import validate
from modules.engine import step_cache
from modules.engine.generation import generate
from modules.engine.samplers import SamplerRegistry
from tests.fixtures.tiny import tiny_manager
from tests.fixtures.tiny_flow import save_tiny_flux


@pytest.fixture(scope="module")
def cache_models_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("step-cache-models")
    save_tiny_flux(root / "Stable-diffusion" / "tiny-flux", seed=2)
    (root / "VAE").mkdir()
    return root


@pytest.fixture
def manager(cache_models_dir, cpu_fp32, tmp_path):
    return tiny_manager(cache_models_dir, cpu_fp32, tmp_path / "cache.json")


def _request(**fields) -> GenerationRequest:
    return replace(GenerationRequest(prompt="a red circle on a blue background", negative_prompt="",
                                     checkpoint="tiny-flux", sampler="Euler", steps=10, cfg_scale=1.0, width=32,
                                     height=32, seed=11), **fields)


def _pixels(result) -> np.ndarray:
    return np.asarray(result.images[0]).astype(np.float32)


def _count_single_block_calls(manager) -> list[int]:
    """How many times the transformer's last block ran (what a cache skips)."""
    loaded = manager.load(manager.resolve("tiny-flux"))
    calls = [0]
    loaded.pipe.transformer.single_transformer_blocks[0].proj_mlp.register_forward_hook(
        lambda *_: calls.__setitem__(0, calls[0] + 1))
    return calls


@pytest.mark.parametrize("name", ["FirstBlockCache", "TaylorSeer"])
def test_a_step_cache_changes_the_picture_a_little_and_is_named_in_the_infotext(manager, monkeypatch, name):
    monkeypatch.setattr(step_cache, "FIRST_BLOCK_THRESHOLD", 0.5)  # the tiny random model changes a lot per step
    plain = generate(_request(), manager, SamplerRegistry.default())
    cached = generate(_request(step_cache=name), manager, SamplerRegistry.default())
    again = generate(_request(), manager, SamplerRegistry.default())
    difference = np.abs(_pixels(cached) - _pixels(plain)).mean()
    other_seed = np.abs(_pixels(generate(_request(seed=12), manager, SamplerRegistry.default())) - _pixels(plain))
    assert 0 < difference < other_seed.mean() / 2
    assert parse_infotext(cached.infotexts[0]).params["Step cache"] == name
    assert "Step cache" not in parse_infotext(plain.infotexts[0]).params
    assert np.array_equal(_pixels(again), _pixels(plain))  # the hooks went with the job


def test_first_block_cache_skips_the_later_blocks_on_some_steps(manager, monkeypatch):
    monkeypatch.setattr(step_cache, "FIRST_BLOCK_THRESHOLD", 0.5)
    calls = _count_single_block_calls(manager)
    generate(_request(), manager, SamplerRegistry.default())
    full = calls[0]
    calls[0] = 0
    generate(_request(step_cache="FirstBlockCache"), manager, SamplerRegistry.default())
    assert full == 10 and 0 < calls[0] < full


def test_magcache_runs_on_flux_with_flux_ratios_and_is_refused_elsewhere(manager):
    with pytest.raises(step_cache.StepCacheError, match="Flux.1's"):
        step_cache.config_for("MagCache", 10, "demo-flux")
    assert step_cache.config_for("MagCache", 10, "flux").num_inference_steps == 10


def test_a_step_cache_on_a_unet_model_or_an_unknown_name_is_refused_with_what_to_use(tiny_models_dir, cpu_fp32,
                                                                                     tmp_path):
    with pytest.raises(RequestError, match="FirstBlockCache is a good start"):
        validate(_request(step_cache="TeaCache"))
    with pytest.raises(RequestError, match="not both"):
        validate(_request(step_cache="TaylorSeer", deepcache_interval=3))
    unet_models = tiny_manager(tiny_models_dir, cpu_fp32, tmp_path / "cache.json")
    with pytest.raises(RequestError, match="use DeepCache"):
        generate(_request(checkpoint="tiny-a", step_cache="FirstBlockCache", width=64, height=64), unet_models,
                 SamplerRegistry.default())
