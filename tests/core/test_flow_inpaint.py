"""Inpaint and outpaint on flow families without an inpainting model (Flux, SD 3.x, Chroma, Z-Image, Qwen-Image),
through diffusers' inpaint pipelines: inside the mask the picture is the bare pipeline's, outside it the input's,
and what those pipelines cannot take is refused with the reason."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from modules.core.requests import GenerationRequest, RequestError
from modules.core.soft_inpainting import SoftInpainting
from modules.engine.generation import generate
from modules.engine.samplers import SamplerRegistry
from tests.fixtures import tiny_flow_families as tiny
from tests.fixtures.tiny import tiny_manager
from tests.fixtures.tiny_flow import save_tiny_flux, save_tiny_sd3

FOLDERS = {
    "tiny-flux": lambda folder: save_tiny_flux(folder, guidance=True),
    "tiny-sd3": lambda folder: save_tiny_sd3(folder, latent_channels=16),
    "tiny-chroma": tiny.save_tiny_chroma,
    "tiny-zimage": tiny.save_tiny_zimage,
    "tiny-qwen-image": tiny.save_tiny_qwen_image,
}
RED = Image.new("RGB", (32, 32), (200, 30, 30))
MASK = Image.new("L", (32, 32), 0)
MASK.paste(255, (8, 8, 24, 24))
INSIDE, OUTSIDE = (slice(8, 24), slice(8, 24)), (slice(0, 4), slice(None))


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory) -> Path:
    return tiny.save_models_dir(tmp_path_factory.mktemp("flow-inpaint"), FOLDERS)


@pytest.fixture
def manager(models_dir, cpu_fp32, tmp_path):
    return tiny_manager(models_dir, cpu_fp32, tmp_path / "cache.json")


def _request(checkpoint: str, **fields) -> GenerationRequest:
    base = GenerationRequest(prompt="a red circle on a blue background", negative_prompt="", checkpoint=checkpoint,
                             sampler="Euler", steps=4, cfg_scale=1.0, width=32, height=32, seed=7, mode="inpaint",
                             init_images=(RED,), mask=MASK, mask_blur=0, denoising_strength=0.75)
    return replace(base, **fields)


def _bare(folder: Path, cls_name: str, **kwargs) -> Image.Image:
    import diffusers

    pipe = getattr(diffusers, cls_name).from_pretrained(str(folder), dtype=torch.float32, local_files_only=True)
    if cls_name == "ChromaInpaintPipeline":  # diffusers 0.42 reads a config key Chroma lacks (see flow_inpaint)
        pipe.transformer.register_to_config(guidance_embeds=False)
    pipe.set_progress_bar_config(disable=True)
    return pipe(**kwargs, generator=torch.Generator().manual_seed(7)).images[0]


BARE = [
    ("tiny-flux", "FluxInpaintPipeline", {"true_cfg_scale": 1.0, "negative_prompt": "", "guidance_scale": 3.5}),
    ("tiny-sd3", "StableDiffusion3InpaintPipeline", {"guidance_scale": 1.0, "negative_prompt": ""}),
    ("tiny-chroma", "ChromaInpaintPipeline", {"guidance_scale": 1.0, "negative_prompt": ""}),
    ("tiny-zimage", "ZImageInpaintPipeline", {"guidance_scale": 1.0, "negative_prompt": ""}),
    ("tiny-qwen-image", "QwenImageInpaintPipeline", {"true_cfg_scale": 1.0, "negative_prompt": ""}),
]


@pytest.mark.parametrize("name, cls_name, bare_args", BARE, ids=[b[0] for b in BARE])
def test_inpaint_is_the_bare_inpaint_pipeline_inside_the_mask_and_the_input_outside(manager, models_dir, name,
                                                                                    cls_name, bare_args):
    result = generate(_request(name), manager, SamplerRegistry.default())
    ours = np.asarray(result.images[0])
    bare = np.asarray(_bare(models_dir / "Stable-diffusion" / name, cls_name, prompt=_request(name).prompt, image=RED,
                            mask_image=MASK, strength=0.75, height=32, width=32, num_inference_steps=4, **bare_args))
    assert np.array_equal(ours[INSIDE], bare[INSIDE])
    assert np.array_equal(ours[OUTSIDE], np.asarray(RED)[OUTSIDE])
    assert not np.array_equal(ours[INSIDE], np.asarray(RED)[INSIDE])  # the masked part was redrawn
    assert "Mask blur: 0" in result.infotexts[0] and "Denoising strength: 0.75" in result.infotexts[0]


def test_outpaint_on_flux_widens_the_picture_and_keeps_the_original_exactly(manager):
    result = generate(_request("tiny-flux", mask=None, outpaint=(0, 16, 0, 0), mask_blur=4, width=48),
                      manager, SamplerRegistry.default())
    picture = np.asarray(result.images[0])
    assert picture.shape[:2] == (32, 48)
    assert np.array_equal(picture[:, :32], np.asarray(RED))
    assert not np.array_equal(picture[:, 40:], np.full_like(picture[:, 40:], 0))  # the new area was drawn
    assert "Outpaint: right 16" in result.infotexts[0]


def test_an_outpaint_canvas_off_the_16_px_grid_is_padded_onto_it_and_cropped_back_after():
    from modules.engine import inpainting
    from modules.engine.flow_inpaint import on_grid

    # Outpaint 8 px: a 40 px canvas, which the inpainting module pads to the VAE's 8 only; real Flux and SD 3.x
    # latents are 2x2 patches of an 8x VAE, so the transformers need 16.
    prepared = on_grid(inpainting.prepare(_request("tiny-flux", mask=None, outpaint=(0, 8, 0, 0), width=48)))
    assert (prepared.width, prepared.height) == (48, 32)
    assert prepared.sources[0].working.size == (48, 32) and prepared.sources[0].crop == (40, 32)
    assert prepared.mask.size == (48, 32) and prepared.mask.crop((40, 0, 48, 32)).getextrema() == (255, 255)
    picture = inpainting.finish(prepared.sources[0], Image.new("RGB", (48, 32), (0, 200, 0)))
    assert picture.size == (40, 32) and picture.getpixel((0, 0)) == RED.getpixel((0, 0))


def test_an_outpaint_of_a_few_pixels_keeps_the_original_and_draws_the_strip(manager):
    result = generate(_request("tiny-flux", mask=None, outpaint=(0, 8, 0, 0), mask_blur=0, width=48),
                      manager, SamplerRegistry.default())
    picture = np.asarray(result.images[0])
    assert picture.shape[:2] == (32, 40)
    assert np.array_equal(picture[:, :32], np.asarray(RED))
    assert not np.array_equal(picture[:, 34:], np.zeros_like(picture[:, 34:]))


def test_only_masked_on_sd3_redraws_the_masked_box_at_the_working_size_and_pastes_it_back(manager):
    big = Image.new("RGB", (64, 64), (200, 30, 30))
    mask = Image.new("L", (64, 64), 0)
    mask.paste(255, (40, 40, 56, 56))
    request = _request("tiny-sd3", init_images=(big,), mask=mask, inpaint_full_res=True, inpaint_full_res_padding=4)
    result = generate(request, manager, SamplerRegistry.default())
    picture = np.asarray(result.images[0])
    assert picture.shape[:2] == (64, 64)  # the input's size, not the 32 px working size
    assert np.array_equal(picture[:32], np.asarray(big)[:32])  # far from the mask: untouched
    assert not np.array_equal(picture[44:52, 44:52], np.asarray(big)[44:52, 44:52])
    assert "Inpaint area: Only masked" in result.infotexts[0] and "Masked area padding: 4" in result.infotexts[0]


def test_blurred_mask_and_fill_content_change_the_flux_inpaint(manager):
    sharp = generate(_request("tiny-flux"), manager, SamplerRegistry.default()).images[0]
    blurred = generate(_request("tiny-flux", mask_blur=4), manager, SamplerRegistry.default()).images[0]
    filled = generate(_request("tiny-flux", inpainting_fill=0), manager, SamplerRegistry.default()).images[0]
    assert not np.array_equal(np.asarray(sharp), np.asarray(blurred))
    assert not np.array_equal(np.asarray(sharp), np.asarray(filled))


def test_latent_masked_content_at_full_strength_is_the_same_picture_as_original(manager):
    original = generate(_request("tiny-sd3", denoising_strength=1.0), manager, SamplerRegistry.default()).images[0]
    noise = generate(_request("tiny-sd3", denoising_strength=1.0, inpainting_fill=2), manager,
                     SamplerRegistry.default()).images[0]
    assert np.array_equal(np.asarray(original), np.asarray(noise))


@pytest.mark.parametrize("fields, reason", [
    ({"soft_inpainting": SoftInpainting()}, "Soft inpainting is not available"),
    ({"inpainting_fill": 2}, "Masked content 'latent noise' is not available"),
    ({"inpainting_fill": 3}, "Masked content 'latent nothing' is not available"),
])
def test_what_the_flow_inpaint_pipelines_cannot_take_is_refused_with_the_reason(manager, fields, reason):
    from modules.engine.flow_generation import check

    info = manager.resolve("tiny-flux")
    with pytest.raises(RequestError, match=reason):
        check(_request("tiny-flux", **fields), info.family, info.family_label, info.name)
