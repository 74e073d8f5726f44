"""Flux and SD 3.x diffusers folders: detected from their configs, loaded offline, and drawn through our generation
flow exactly as the bare diffusers pipeline draws them from the same inputs."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from modules.core.requests import GenerationRequest, RequestError
from modules.engine.generation import generate
from modules.engine.samplers import SamplerRegistry
from tests.fixtures.tiny import tiny_manager
from tests.fixtures.tiny_flow import save_tiny_flux, save_tiny_sd3


@pytest.fixture(scope="module")
def flow_models_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("flow-models")
    checkpoints = root / "Stable-diffusion"
    save_tiny_flux(checkpoints / "tiny-flux-dev", guidance=True)
    save_tiny_flux(checkpoints / "tiny-flux-schnell", seed=1)
    save_tiny_sd3(checkpoints / "tiny-sd3")
    (root / "VAE").mkdir()
    return root


@pytest.fixture
def manager(flow_models_dir, cpu_fp32, tmp_path):
    return tiny_manager(flow_models_dir, cpu_fp32, tmp_path / "cache.json")


def _request(checkpoint: str, **fields) -> GenerationRequest:
    base = GenerationRequest(prompt="a red circle on a blue background", negative_prompt="", checkpoint=checkpoint,
                             sampler="Euler", steps=3, cfg_scale=1.0, width=32, height=32, seed=7)
    return replace(base, **fields)


def _bare(folder: Path, **kwargs) -> Image.Image:
    from diffusers import DiffusionPipeline

    pipe = DiffusionPipeline.from_pretrained(str(folder), dtype=torch.float32, local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    return pipe(**kwargs).images[0]


def test_flux_and_sd3_folders_are_listed_as_usable_with_their_family_and_variant(manager):
    found = {info.name: info for info in manager.checkpoints.all()}
    assert found["tiny-flux-dev"].family == "flux" and found["tiny-flux-dev"].usable
    assert "dev" in found["tiny-flux-dev"].family_label
    assert "schnell" in found["tiny-flux-schnell"].family_label
    assert found["tiny-sd3"].family == "sd3" and found["tiny-sd3"].usable


def test_flux_dev_txt2img_is_pixel_identical_to_the_bare_pipeline(manager, flow_models_dir):
    request = _request("tiny-flux-dev", cfg_scale=2.0, negative_prompt="green", distilled_cfg_scale=5.0)
    ours = generate(request, manager, SamplerRegistry.default()).images[0]
    bare = _bare(flow_models_dir / "Stable-diffusion" / "tiny-flux-dev", prompt=request.prompt,
                 negative_prompt="green", true_cfg_scale=2.0, guidance_scale=5.0, height=32, width=32,
                 num_inference_steps=3, generator=torch.Generator().manual_seed(7))
    assert np.array_equal(np.asarray(ours), np.asarray(bare))


def test_sd3_txt2img_is_pixel_identical_to_the_bare_pipeline(manager, flow_models_dir):
    request = _request("tiny-sd3", cfg_scale=4.0, negative_prompt="green")
    ours = generate(request, manager, SamplerRegistry.default()).images[0]
    bare = _bare(flow_models_dir / "Stable-diffusion" / "tiny-sd3", prompt=request.prompt, negative_prompt="green",
                 guidance_scale=4.0, height=32, width=32, num_inference_steps=3,
                 generator=torch.Generator().manual_seed(7))
    assert np.array_equal(np.asarray(ours), np.asarray(bare))


def test_distilled_cfg_scale_changes_a_flux_dev_picture_and_is_written_in_the_infotext(manager):
    low = generate(_request("tiny-flux-dev", distilled_cfg_scale=1.0), manager, SamplerRegistry.default())
    high = generate(_request("tiny-flux-dev", distilled_cfg_scale=9.0), manager, SamplerRegistry.default())
    assert not np.array_equal(np.asarray(low.images[0]), np.asarray(high.images[0]))
    assert "Distilled CFG Scale: 9," in high.infotexts[0]
    assert "Shift: dynamic" in high.infotexts[0]


def test_distilled_cfg_scale_on_a_model_without_guidance_embedding_is_reported_not_silently_dropped(manager):
    result = generate(_request("tiny-flux-schnell", distilled_cfg_scale=5.0), manager, SamplerRegistry.default())
    assert any("no guidance embedding" in w for w in result.warnings)
    assert "Distilled CFG Scale" not in result.infotexts[0]


def test_a_flux_seed_gives_the_same_picture_alone_and_second_in_a_batch(manager):
    alone = generate(_request("tiny-flux-schnell", seed=11), manager, SamplerRegistry.default()).images[0]
    batch = generate(_request("tiny-flux-schnell", seed=10, batch_size=2), manager, SamplerRegistry.default())
    assert batch.seeds == [10, 11]
    assert np.array_equal(np.asarray(alone), np.asarray(batch.images[1]))


def test_euler_a_on_flux_repeats_from_its_seed_and_differs_from_euler(manager):
    first = generate(_request("tiny-flux-schnell", sampler="Euler a"), manager, SamplerRegistry.default()).images[0]
    torch.manual_seed(123)  # the global RNG must not matter: the noise comes from the seed
    again = generate(_request("tiny-flux-schnell", sampler="Euler a"), manager, SamplerRegistry.default()).images[0]
    euler = generate(_request("tiny-flux-schnell"), manager, SamplerRegistry.default()).images[0]
    assert np.array_equal(np.asarray(first), np.asarray(again))
    assert not np.array_equal(np.asarray(first), np.asarray(euler))


@pytest.mark.parametrize("checkpoint", ["tiny-flux-dev", "tiny-sd3"])
def test_img2img_on_a_flow_model_keeps_the_input_at_low_strength_and_changes_it_at_high(manager, checkpoint):
    picture = Image.new("RGB", (32, 32), (200, 30, 30))
    low = generate(_request(checkpoint, mode="img2img", init_images=(picture,), denoising_strength=0.05, steps=20),
                   manager, SamplerRegistry.default())
    high = generate(_request(checkpoint, mode="img2img", init_images=(picture,), denoising_strength=1.0),
                    manager, SamplerRegistry.default())
    original = np.asarray(picture, dtype=float)
    low_change = np.abs(np.asarray(low.images[0], dtype=float) - original).mean()
    high_change = np.abs(np.asarray(high.images[0], dtype=float) - original).mean()
    assert low_change < high_change
    assert "Denoising strength: 0.05" in low.infotexts[0]


def test_an_sd_sampler_is_refused_for_a_flow_model_naming_those_that_work(manager):
    from modules.engine.flow_generation import check

    info = manager.resolve("tiny-sd3")
    with pytest.raises(RequestError, match="Choose one of: Euler, Euler a"):
        check(_request("tiny-sd3", sampler="DPM++ 2M"), info.family, info.family_label, info.name)


@pytest.mark.parametrize("fields, reason", [
    ({"enable_hr": True, "hr_scale": 1.25, "hr_upscaler": "Lanczos"}, "multiple of 16"),
    ({"width": 40}, "multiple of 16"),
    ({"mode": "inpaint", "init_images": (Image.new("RGB", (32, 32)),), "mask": Image.new("L", (32, 32), 255),
      "inpainting_fill": 3, "denoising_strength": 0.5}, "latent nothing"),
])
def test_features_a_flow_model_cannot_take_are_refused_with_the_reason(manager, fields, reason):
    from modules.engine.flow_generation import check

    info = manager.resolve("tiny-flux-dev")
    with pytest.raises(RequestError, match=reason):
        check(_request("tiny-flux-dev", **fields), info.family, info.family_label, info.name)


def test_the_flux_demo_member_is_listed_as_a_demo_and_never_becomes_the_default_over_the_sd_demo(tmp_path, cpu_fp32):
    from tests.fixtures.tiny import save_tiny_pipeline

    checkpoints = tmp_path / "models" / "Stable-diffusion"
    save_tiny_flux(checkpoints / "a-demo-flux", demo=True)
    save_tiny_pipeline(checkpoints / "demo-shapes")
    (checkpoints / "demo-shapes" / "training.json").write_text("{}")
    manager = tiny_manager(tmp_path / "models", cpu_fp32, tmp_path / "cache.json")
    assert manager.resolve("a-demo-flux").family == "demo-flux"
    assert manager.default_checkpoint().name == "demo-shapes"


def test_an_incomplete_flow_folder_is_listed_unusable_with_what_is_missing_and_nothing_crashes(tmp_path, cpu_fp32):
    import json

    folder = tmp_path / "models" / "Stable-diffusion" / "flux-canny"
    folder.mkdir(parents=True)
    (folder / "model_index.json").write_text(json.dumps({"_class_name": "FluxControlPipeline"}))
    manager = tiny_manager(tmp_path / "models", cpu_fp32, tmp_path / "cache.json")
    info = manager.checkpoints.all()[0]
    assert not info.usable and "without transformer/config.json" in info.error
    with pytest.raises(LookupError, match="transformer/config.json"):
        manager.resolve("flux-canny")
