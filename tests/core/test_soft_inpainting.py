"""Soft inpainting on the tiny model: grey mask values repaint in proportion; its fields round-trip."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from modules.core.infotext import parse_infotext
from modules.core.requests import GenerationRequest, RequestError
from modules.core.validation import validate
from modules.core.soft_inpainting import SoftInpainting, from_infotext, from_script_args
from modules.engine.generation import generate
from tests.core.test_inpaint import noise_picture


def bands() -> Image.Image:
    """Three vertical bands: 0 (keep), 128 (half), 255 (repaint)."""
    mask = np.zeros((48, 48), dtype=np.uint8)
    mask[:, 16:32], mask[:, 32:] = 128, 255
    return Image.fromarray(mask, "L")


BASE = GenerationRequest(prompt="a red circle", mode="inpaint", width=48, height=48, steps=6, seed=3, cfg_scale=5.0,
                         sampler="Euler", checkpoint="tiny-a", init_images=(noise_picture(48, 48),), mask=bands(),
                         denoising_strength=1.0, mask_blur=0, soft_inpainting=SoftInpainting())


def change_by_band(request, manager, samplers) -> tuple[np.ndarray, list[float]]:
    result = generate(validate(request, samplers=samplers), manager, samplers)
    diff = np.abs(np.asarray(result.images[0], np.int16) - np.asarray(request.init_images[0], np.int16))
    return diff, [float(diff[:, a:b].mean()) for a, b in ((0, 16), (18, 30), (34, 48))], result


@pytest.mark.parametrize("sampler", ["Euler", "DDIM"])
def test_grey_repaints_in_proportion_and_black_is_kept_exactly(manager, samplers, sampler):
    diff, (kept, half, full), result = change_by_band(replace(BASE, sampler=sampler), manager, samplers)
    assert not diff[:, :16].any()  # mask 0: the original, bit for bit
    assert 0 < half < full, (half, full)
    params = parse_infotext(result.infotexts[0]).params
    assert params["Soft inpainting enabled"] == "True"
    assert from_infotext(params) == SoftInpainting()


def test_more_preservation_keeps_more_of_the_grey_area(manager, samplers):
    _, (_, loose, _), _ = change_by_band(replace(BASE, soft_inpainting=SoftInpainting(preservation_strength=0.1)),
                                         manager, samplers)
    _, (_, tight, _), _ = change_by_band(replace(BASE, soft_inpainting=SoftInpainting(preservation_strength=4.0)),
                                         manager, samplers)
    assert tight < loose


def test_settings_round_trip_through_the_infotext(manager, samplers):
    settings = SoftInpainting(1.5, 0.75, 8.0, 0.25, 1.0, 3.0)
    _, _, result = change_by_band(replace(BASE, soft_inpainting=settings), manager, samplers)
    assert from_infotext(parse_infotext(result.infotexts[0]).params) == settings


def test_a1111_script_args_and_bad_values():
    assert from_script_args({"args": [True, 1.5, 0.75]}) == SoftInpainting(1.5, 0.75)
    assert from_script_args({"args": [False, 1.5]}) is None
    with pytest.raises(ValueError, match="Soft inpainting mask influence must be between 0 and 1"):
        from_script_args({"args": [True, 1, 0.5, 4, 2.0]})
    with pytest.raises(RequestError, match="Soft inpainting needs a mask"):
        validate(replace(BASE, mode="img2img", mask=None))


def test_a_queued_soft_inpaint_request_survives_a_restart():
    from modules.service.queue_store import DEFAULT_TYPES, decode, encode

    types = {f"{t.__module__}.{t.__qualname__}": t for t in DEFAULT_TYPES}
    request = replace(BASE, soft_inpainting=SoftInpainting(schedule_bias=2.0))
    assert decode(encode(request, types), types).soft_inpainting == SoftInpainting(schedule_bias=2.0)


def test_a_horizontal_gradient_mask_changes_more_from_left_to_right(manager, samplers):
    gradient = Image.fromarray(np.tile(np.linspace(0, 255, 48).astype(np.uint8), (48, 1)), "L")
    for seed in (1, 2):
        request = replace(BASE, mask=gradient, seed=seed)
        result = generate(validate(request, samplers=samplers), manager, samplers)
        diff = np.abs(np.asarray(result.images[0], np.int16) - np.asarray(request.init_images[0], np.int16))
        quarters = [float(diff[:, i:i + 12].mean()) for i in range(0, 48, 12)]
        assert quarters == sorted(quarters) and quarters[3] > 3 * quarters[0], quarters
        assert not diff[:, 0].any()  # the mask's 0 column: the original exactly
