"""DeepCache on a tiny UNet: the shallow path rebuilds the UNet's output exactly when the deep feature is fresh,
cached steps skip the deep blocks, each run starts full, and the job names it in its infotext."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from modules.core.infotext import parse_infotext
from modules.core.request_infotext import request_fields_from_infotext
from modules.core.requests import GenerationRequest, RequestError
from modules.core.validation import validate
from modules.engine import deepcache
from modules.engine.generation import generate


@pytest.fixture(scope="module")
def unet():
    from training.demo_model import TINY, build_unet

    torch.manual_seed(0)
    return build_unet(TINY).eval()


def _inputs(unet, batch=2):
    torch.manual_seed(1)
    sample = torch.randn(batch, unet.config.in_channels, 8, 8)
    context = torch.randn(batch, 4, unet.config.cross_attention_dim)
    return sample, context


def test_a_cached_step_at_the_same_timestep_and_input_gives_the_full_output(unet):
    sample, context = _inputs(unet)
    with torch.no_grad():
        full = unet(sample, 500, context).sample
        with deepcache.cached(unet, 2) as state:
            first = unet(sample, 500, context).sample
            second = unet(sample, 400, context).sample  # cached: the deep feature from step 500
            again = unet(sample, 400, context).sample  # full again (interval 2)
    assert (state.full, state.cached) == (2, 1)
    assert torch.allclose(first, full, atol=1e-6)
    # Only the shallow level saw timestep 400 in the cached step; the full step at 400 differs a little.
    assert not torch.allclose(second, again, atol=1e-6)
    direct = unet(sample, 400, context).sample
    assert torch.allclose(again, direct, atol=1e-6)


def test_the_shallow_path_with_a_fresh_feature_is_the_full_forward(unet):
    sample, context = _inputs(unet)
    with torch.no_grad(), deepcache.cached(unet, 3) as state:
        full = unet(sample, 300, context).sample
        shallow = deepcache._shallow_forward(unet, state._feature, sample, 300, context, {})
    assert torch.allclose(shallow, full, atol=1e-5)


def test_cached_steps_skip_the_deep_blocks(unet):
    sample, context = _inputs(unet)
    calls = []
    handle = unet.mid_block.register_forward_hook(lambda *a: calls.append(1))
    try:
        with torch.no_grad(), deepcache.cached(unet, 3):
            for t in (900, 800, 700, 600, 500, 400):
                unet(sample, t, context)
    finally:
        handle.remove()
    assert len(calls) == 2  # full at 900 and 600


def test_a_new_run_or_another_size_starts_with_a_full_step(unet):
    sample, context = _inputs(unet)
    with torch.no_grad(), deepcache.cached(unet, 10) as state:
        unet(sample, 900, context)
        unet(sample, 800, context)
        unet(sample, 950, context)  # the timestep went up: a new sampling run
        unet(torch.randn(2, unet.config.in_channels, 16, 16), 940, context)  # a hires pass's size
    assert (state.full, state.cached) == (3, 1)


def test_the_unet_is_itself_again_after_the_job(unet):
    with deepcache.cached(unet, 2):
        assert "forward" in unet.__dict__
    assert "forward" not in unet.__dict__


def test_deepcache_is_refused_for_a_model_without_a_unet():
    with pytest.raises(deepcache.DeepCacheError, match="Set DeepCache interval to 0"):
        with deepcache.cached(torch.nn.Linear(2, 2), 3):
            pass


def test_an_interval_of_one_is_refused_because_it_would_cache_nothing():
    with pytest.raises(RequestError, match="0 \\(off\\) or from 2 to 10"):
        validate(GenerationRequest(prompt="x", deepcache_interval=1))


def _request(**fields) -> GenerationRequest:
    return validate(GenerationRequest(prompt="a green triangle", steps=6, width=32, height=32, seed=11,
                                      sampler="Euler", **fields))


def test_a_deepcached_job_is_close_to_the_uncached_picture_and_says_so_in_its_infotext(manager, samplers):
    plain = generate(_request(), manager, samplers)
    cached = generate(_request(deepcache_interval=3), manager, samplers)
    a = np.asarray(plain.images[0], dtype=np.float32)
    b = np.asarray(cached.images[0], dtype=np.float32)
    assert 0 < np.abs(a - b).mean() < 40
    params = parse_infotext(cached.infotexts[0]).params
    assert params["DeepCache interval"] == "3"
    assert request_fields_from_infotext("", "", params)["deepcache_interval"] == 3
    assert "DeepCache interval" not in parse_infotext(plain.infotexts[0]).params


def test_a_job_that_runs_out_of_memory_leaves_the_unet_and_vae_unpatched(manager, samplers):
    from modules.core.results import JobControl, OutOfMemory
    from modules.engine import oom

    def fail(info):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    request = _request(deepcache_interval=3)
    with pytest.raises(OutOfMemory, match="Out of memory"):
        oom.run_with_retry(request.with_resolved_seeds(), lambda attempt: generate(
            attempt, manager, samplers, JobControl(on_step=fail)))
    pipe = manager.load(manager.resolve(request.checkpoint)).pipe
    assert "forward" not in pipe.unet.__dict__ and "decode" not in pipe.vae.__dict__
    assert generate(_request(), manager, samplers).images  # the next job runs as usual
