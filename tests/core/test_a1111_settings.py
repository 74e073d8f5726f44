"""A1111 settings that change the picture, through the real engine: the inpainting conditioning mask strength of
9-channel checkpoints, and img2img colour correction."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from PIL import Image, ImageDraw
from skimage import color

from modules.core.infotext import parse_infotext
from modules.core.requests import GenerationRequest
from modules.core.validation import validate
from modules.engine.color_correction import match_colours
from modules.engine.generation import generate


def _picture(seed: int = 0) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (32, 32, 3), dtype=np.uint8))


def _mask() -> Image.Image:
    mask = Image.new("L", (32, 32), 0)
    ImageDraw.Draw(mask).rectangle((8, 8, 23, 23), fill=255)
    return mask


INPAINT = GenerationRequest(prompt="a red circle", mode="inpaint", width=32, height=32, steps=3, seed=3,
                            sampler="Euler", checkpoint="tiny-inpaint", init_images=(_picture(),), mask=_mask(),
                            denoising_strength=0.75, mask_blur=0)


def _run(request, models, samplers):
    return generate(validate(request, samplers=samplers), models, samplers)


def test_inpainting_mask_weight_shows_a_nine_channel_model_the_masked_part(inpaint_manager, samplers):
    full = _run(INPAINT, inpaint_manager, samplers)
    assert "Conditional mask weight" not in parse_infotext(full.infotexts[0]).params  # 1 is the default
    half = _run(replace(INPAINT, inpainting_mask_weight=0.5), inpaint_manager, samplers)
    assert parse_infotext(half.infotexts[0]).params["Conditional mask weight"] == "0.5"
    a, b = (np.asarray(r.images[0], dtype=np.int16) for r in (full, half))
    assert np.abs(a - b)[8:24, 8:24].max() > 0  # the masked part is drawn differently
    assert np.array_equal(a[:4], b[:4])  # outside the mask the picture is kept, both times


def test_colour_correction_matches_colours_and_keeps_the_lightness():
    rng = np.random.default_rng(1)
    result = Image.fromarray(np.clip(rng.normal((200, 60, 60), 20, (24, 24, 3)), 0, 255).astype(np.uint8))
    reference = Image.fromarray(np.clip(rng.normal((40, 90, 200), 20, (24, 24, 3)), 0, 255).astype(np.uint8))
    corrected = match_colours(result, reference)
    lab = {name: color.rgb2lab(np.asarray(image)) for name, image in
           (("result", result), ("reference", reference), ("corrected", corrected))}
    colour = {name: values[..., 1:].reshape(-1, 2).mean(0) for name, values in lab.items()}
    assert np.linalg.norm(colour["corrected"] - colour["reference"]) < 5
    assert np.linalg.norm(colour["result"] - colour["reference"]) > 50
    lightness = np.abs(lab["corrected"][..., 0] - lab["result"][..., 0])
    assert np.median(lightness) < 5  # light and shade stay the generation's (out-of-gamut pixels move a little)
