"""Inpainting on Flux Kontext through diffusers' FluxKontextInpaintPipeline: inside the mask the picture is the bare
pipeline's (with the picture, or the reference after it, as the context), outside it the input's, with the SD
path's mask blur, inpaint area and masked content; what it cannot take is refused with the reason."""

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

NAME = "tiny-flux-kontext"
RED, BLUE = Image.new("RGB", (32, 32), (200, 30, 30)), Image.new("RGB", (32, 32), (20, 30, 220))
MASK = Image.new("L", (32, 32), 0)
MASK.paste(255, (8, 8, 24, 24))
INSIDE, OUTSIDE = (slice(8, 24), slice(8, 24)), (slice(0, 4), slice(None))


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory) -> Path:
    return tiny.save_models_dir(tmp_path_factory.mktemp("kontext-inpaint"), {NAME: tiny.save_tiny_flux_kontext})


@pytest.fixture
def manager(models_dir, cpu_fp32, tmp_path):
    return tiny_manager(models_dir, cpu_fp32, tmp_path / "cache.json")


def _request(**fields) -> GenerationRequest:
    base = GenerationRequest(prompt="put a blue square in the middle", negative_prompt="", checkpoint=NAME,
                             sampler="Euler", steps=3, cfg_scale=1.0, width=32, height=32, seed=7, mode="inpaint",
                             init_images=(RED,), mask=MASK, mask_blur=0, denoising_strength=0.8,
                             distilled_cfg_scale=2.5)
    return replace(base, **fields)


def _bare(models_dir: Path, **kwargs) -> np.ndarray:
    from diffusers import FluxKontextInpaintPipeline

    pipe = FluxKontextInpaintPipeline.from_pretrained(str(models_dir / "Stable-diffusion" / NAME),
                                                      dtype=torch.float32, local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    return np.asarray(pipe(prompt=_request().prompt, image=RED, mask_image=MASK, strength=0.8, guidance_scale=2.5,
                           height=32, width=32, num_inference_steps=3, max_area=32 * 32, _auto_resize=False,
                           generator=torch.Generator().manual_seed(7), **kwargs).images[0])


def test_a_kontext_inpaint_is_the_bare_kontext_inpaint_pipeline_inside_the_mask_and_the_input_outside(
        manager, models_dir):
    result = generate(_request(), manager, SamplerRegistry.default())
    ours = np.asarray(result.images[0])
    assert np.array_equal(ours[INSIDE], _bare(models_dir)[INSIDE])
    assert np.array_equal(ours[OUTSIDE], np.asarray(RED)[OUTSIDE])
    assert not np.array_equal(ours[INSIDE], np.asarray(RED)[INSIDE])  # the masked part was redrawn
    info = result.infotexts[0]
    assert "Denoising strength: 0.8" in info and "Mask blur: 0" in info and "Edit references" not in info


def test_the_picture_after_the_first_is_the_kontext_inpaints_reference_like_the_bare_pipelines(manager, models_dir):
    with_reference = generate(_request(init_images=(RED, BLUE)), manager, SamplerRegistry.default())
    ours = np.asarray(with_reference.images[0])
    assert np.array_equal(ours[INSIDE], _bare(models_dir, image_reference=BLUE)[INSIDE])
    assert np.array_equal(ours[OUTSIDE], np.asarray(RED)[OUTSIDE])  # the reference is not what gets pasted back
    alone = np.asarray(generate(_request(), manager, SamplerRegistry.default()).images[0])
    assert not np.array_equal(ours[INSIDE], alone[INSIDE])  # the reference is used
    assert "Edit references: 1" in with_reference.infotexts[0]


def test_only_masked_with_a_blurred_mask_redraws_the_box_and_keeps_the_rest_of_the_picture(manager):
    big = Image.new("RGB", (64, 64), (200, 30, 30))
    mask = Image.new("L", (64, 64), 0)
    mask.paste(255, (40, 40, 56, 56))
    result = generate(_request(init_images=(big, BLUE), mask=mask, mask_blur=2, inpaint_full_res=True,
                               inpaint_full_res_padding=4), manager, SamplerRegistry.default())
    picture = np.asarray(result.images[0])
    assert picture.shape[:2] == (64, 64)  # the input's size, not the 32 px working size
    assert np.array_equal(picture[:32], np.asarray(big)[:32])  # far from the mask: untouched
    assert not np.array_equal(picture[44:52, 44:52], np.asarray(big)[44:52, 44:52])
    info = result.infotexts[0]
    assert "Inpaint area: Only masked" in info and "Mask blur: 2" in info and "Edit references: 1" in info


def test_an_outpaint_on_kontext_keeps_the_original_exactly_and_draws_the_new_strip(manager):
    result = generate(_request(mask=None, outpaint=(0, 16, 0, 0), mask_blur=4, width=48), manager,
                      SamplerRegistry.default())
    picture = np.asarray(result.images[0])
    assert picture.shape[:2] == (32, 48)
    assert np.array_equal(picture[:, :32], np.asarray(RED))
    assert "Outpaint: right 16" in result.infotexts[0]


@pytest.mark.parametrize("fields, reason", [
    ({"init_images": (RED, BLUE, BLUE)}, "at most 1 reference picture: the first picture is inpainted and the next "
                                         "one is its reference, but 3 pictures were given"),
    ({"soft_inpainting": SoftInpainting()}, "Soft inpainting is not available"),
    ({"inpainting_fill": 2}, "Masked content 'latent noise' is not available"),
])
def test_what_a_kontext_inpaint_cannot_take_is_refused_with_the_reason(manager, fields, reason):
    from modules.engine.flow_generation import check

    info = manager.resolve(NAME)
    with pytest.raises(RequestError, match=reason):
        check(_request(**fields), info.family, info.family_label, info.name)


def test_a_kontext_inpaint_batch_gives_each_seed_its_own_picture(manager):
    batch = generate(_request(init_images=(RED, BLUE), batch_size=2), manager, SamplerRegistry.default())
    alone = generate(_request(init_images=(RED, BLUE), seed=8), manager, SamplerRegistry.default())
    assert batch.seeds == [7, 8]
    assert np.array_equal(np.asarray(batch.images[1]), np.asarray(alone.images[0]))
