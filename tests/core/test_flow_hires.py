"""Hires. fix on the flow families: the first pass, the upscale (a pixel upscaler, or latent on Flux and SD 3.x), and
the second pass through the family's img2img pipeline at the hires size, pixel-identical to the bare diffusers
pipelines doing the same; what a family cannot take is refused with the reason."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from modules.core.requests import GenerationRequest, RequestError
from modules.core.results import JobControl
from modules.engine.generation import generate
from modules.engine.samplers import SamplerRegistry
from tests.fixtures import tiny_flow_families as tiny
from tests.fixtures.tiny import tiny_manager
from tests.fixtures.tiny_flow import save_tiny_flux, save_tiny_sd3

FOLDERS = {
    "tiny-flux": lambda folder: save_tiny_flux(folder, guidance=True),
    "tiny-sd3": save_tiny_sd3,
    "tiny-zimage": tiny.save_tiny_zimage,
    "tiny-flux-kontext": tiny.save_tiny_flux_kontext,
}


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory) -> Path:
    return tiny.save_models_dir(tmp_path_factory.mktemp("flow-hires"), FOLDERS)


@pytest.fixture
def manager(models_dir, cpu_fp32, tmp_path):
    return tiny_manager(models_dir, cpu_fp32, tmp_path / "cache.json")


def _request(checkpoint: str, **fields) -> GenerationRequest:
    base = GenerationRequest(prompt="a red circle on a blue background", negative_prompt="", checkpoint=checkpoint,
                             sampler="Euler", steps=3, cfg_scale=1.0, width=32, height=32, seed=7, enable_hr=True,
                             hr_scale=2.0, hr_upscaler="Lanczos", hr_second_pass_steps=3, denoising_strength=0.5)
    return replace(base, **fields)


def _pipe(folder: Path, cls_name: str):
    import diffusers

    pipe = getattr(diffusers, cls_name).from_pretrained(str(folder), dtype=torch.float32, local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def test_flux_hires_with_a_pixel_upscaler_is_the_bare_txt2img_then_img2img(manager, models_dir):
    result = generate(_request("tiny-flux"), manager, SamplerRegistry.default())
    folder = models_dir / "Stable-diffusion" / "tiny-flux"
    common = dict(prompt=_request("tiny-flux").prompt, guidance_scale=3.5)
    small = _pipe(folder, "FluxPipeline")(**common, height=32, width=32, num_inference_steps=3,
                                          generator=torch.Generator().manual_seed(7)).images[0]
    # Hires steps 3 at denoising 0.5: A1111 stretches the schedule to 6 steps and runs the last 3.
    bare = _pipe(folder, "FluxImg2ImgPipeline")(**common, image=small.resize((64, 64), Image.Resampling.LANCZOS),
                                                strength=0.5, num_inference_steps=6, height=64, width=64,
                                                generator=torch.Generator().manual_seed(7)).images[0]
    assert result.images[0].size == (64, 64)
    assert np.array_equal(np.asarray(result.images[0]), np.asarray(bare))
    text = result.infotexts[0]
    for field in ("Size: 32x32", "Hires upscale: 2", "Hires upscaler: Lanczos", "Hires steps: 3",
                  "Denoising strength: 0.5"):
        assert field in text


def test_sd3_hires_with_the_latent_upscaler_resizes_the_first_pass_latents(manager, models_dir):
    result = generate(_request("tiny-sd3", hr_upscaler="Latent", cfg_scale=2.0, hr_cfg=3.0), manager,
                      SamplerRegistry.default())
    folder = models_dir / "Stable-diffusion" / "tiny-sd3"
    prompt = _request("tiny-sd3").prompt
    latents = _pipe(folder, "StableDiffusion3Pipeline")(
        prompt=prompt, negative_prompt="", guidance_scale=2.0, height=32, width=32, num_inference_steps=3,
        output_type="latent", generator=torch.Generator().manual_seed(7)).images
    bigger = torch.nn.functional.interpolate(latents, size=(16, 16), mode="bilinear", antialias=False)
    bare = _pipe(folder, "StableDiffusion3Img2ImgPipeline")(
        prompt=prompt, negative_prompt="", guidance_scale=3.0, image=bigger, strength=0.5, num_inference_steps=6,
        height=64, width=64, generator=torch.Generator().manual_seed(7)).images[0]
    assert np.array_equal(np.asarray(result.images[0]), np.asarray(bare))
    assert "Hires upscaler: Latent" in result.infotexts[0] and "Hires CFG Scale: 3," in result.infotexts[0]


def test_zimage_hires_runs_its_second_pass_at_the_hires_size_and_differs_from_a_plain_upscale(manager):
    hires = generate(_request("tiny-zimage"), manager, SamplerRegistry.default()).images[0]
    plain = generate(_request("tiny-zimage", denoising_strength=0.0), manager, SamplerRegistry.default()).images[0]
    small = generate(_request("tiny-zimage", enable_hr=False), manager, SamplerRegistry.default()).images[0]
    assert hires.size == plain.size == (64, 64)
    assert np.array_equal(np.asarray(plain), np.asarray(small.resize((64, 64), Image.Resampling.LANCZOS)))
    assert not np.array_equal(np.asarray(hires), np.asarray(plain))


def test_both_passes_report_on_one_progress_bar(manager):
    steps: list[tuple[int, int]] = []
    control = JobControl(on_step=lambda info: steps.append((info.step, info.steps)))
    generate(_request("tiny-flux", hr_second_pass_steps=2), manager, SamplerRegistry.default(), control=control)
    assert steps == [(1, 5), (2, 5), (3, 5), (4, 5), (5, 5)]


def test_an_interrupt_in_the_first_pass_returns_the_first_pass_picture(manager):
    control = JobControl()
    control.on_step = lambda info: control.interrupt.set()
    result = generate(_request("tiny-flux", hr_upscaler="Latent"), manager, SamplerRegistry.default(),
                      control=control)
    assert result.interrupted and result.images[0].size == (32, 32)
    assert any("first-pass pictures" in w for w in result.warnings)


@pytest.mark.parametrize("name, fields, reason", [
    ("tiny-zimage", {"hr_upscaler": "Latent"}, "takes pictures, not latents"),
    ("tiny-flux-kontext", {}, "needs an img2img pipeline"),
    ("tiny-flux", {"hr_scale": 1.25}, "hires width has to be a multiple of 16"),
    ("tiny-flux", {"hr_checkpoint": "tiny-sd3"}, "A hires checkpoint is not available"),
    ("tiny-flux", {"hr_sampler": "DPM++ 2M SDE"}, "Hires sampler"),
])
def test_a_hires_fix_a_flow_family_cannot_run_is_refused_with_the_reason(manager, name, fields, reason):
    from modules.engine.flow_generation import check

    info = manager.resolve(name)
    with pytest.raises(RequestError, match=reason):
        check(_request(name, **fields), info.family, info.family_label, info.name)
