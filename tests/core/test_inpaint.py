"""Inpainting and outpainting through the real core: 4- and 9-channel UNets, exact preservation, only masked."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter

from modules.core.infotext import parse_infotext
from modules.core.requests import GenerationRequest
from modules.core.validation import validate
from modules.engine import pipelines
from modules.engine.generation import generate


def pixels(image) -> np.ndarray:
    return np.asarray(image, dtype=np.int16)


def noise_picture(width: int, height: int, seed: int = 0) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8))


def square_mask(size: tuple[int, int], box: tuple[int, int, int, int]) -> Image.Image:
    mask = Image.new("L", size, 0)
    ImageDraw.Draw(mask).rectangle(box, fill=255)
    return mask


PICTURE = noise_picture(48, 48)
MASK = square_mask((48, 48), (20, 20, 27, 27))
BASE = GenerationRequest(prompt="a red circle", mode="inpaint", width=48, height=48, steps=4, seed=7, cfg_scale=5.0,
                         sampler="Euler", checkpoint="tiny-a", init_images=(PICTURE,), mask=MASK,
                         denoising_strength=0.75, mask_blur=4)


def run(request, models, samplers):
    return generate(validate(request, samplers=samplers), models, samplers)


def untouched(mask: Image.Image, blur: int) -> np.ndarray:
    """Where the blurred mask is 0: the result must be the original there, bit for bit."""
    blurred = mask.filter(ImageFilter.GaussianBlur(blur)) if blur else mask
    return np.asarray(blurred) == 0


@pytest.mark.parametrize("checkpoint", ["tiny-a", "tiny-inpaint"])
@pytest.mark.parametrize("blur", [0, 4])
def test_outside_the_blurred_mask_the_original_is_kept_exactly(inpaint_manager, samplers, checkpoint, blur):
    result = run(replace(BASE, checkpoint=checkpoint, mask_blur=blur), inpaint_manager, samplers)
    out, original = pixels(result.images[0]), pixels(PICTURE)
    keep = untouched(MASK, blur)
    assert keep.sum() > 1000  # most of the picture
    assert np.array_equal(out[keep], original[keep])
    assert np.array_equal(out[:8, :8], original[:8, :8])  # far from the stroke, whatever the blur
    assert np.abs(out[21:27, 21:27] - original[21:27, 21:27]).mean() > 10  # the stroke was repainted
    params = parse_infotext(result.infotexts[0]).params
    assert params["Mask blur"] == str(blur) and params["Masked content"] == "original"
    assert params["Denoising strength"] == "0.75"


def test_nine_channel_checkpoint_uses_a_shared_inpaint_pipeline(inpaint_manager, samplers):
    info = inpaint_manager.resolve("tiny-inpaint")
    assert info.inpainting and "inpainting" in info.family_label
    run(replace(BASE, checkpoint="tiny-inpaint"), inpaint_manager, samplers)
    loaded = inpaint_manager.load(info)
    derived = loaded.derived["WebuiInpaintPipeline"]
    assert isinstance(derived, pipelines.WebuiInpaintPipeline)
    assert derived.unet is loaded.pipe.unet and derived.unet.config.in_channels == 9
    assert pipelines.route("inpaint", loaded.pipe) == pipelines.Route("inpaint")


def test_nine_channel_is_used_for_txt2img_and_img2img_with_a_note(inpaint_manager, samplers):
    txt = run(GenerationRequest(prompt="a red circle", width=16, height=16, steps=3, seed=1, checkpoint="tiny-inpaint"),
              inpaint_manager, samplers)
    assert txt.images[0].size == (16, 16) and pixels(txt.images[0]).std() > 0
    assert any("inpainting model: txt2img ran as an inpaint of a blank canvas" in w for w in txt.warnings)
    assert "Denoising strength" not in txt.infotexts[0]
    img = run(replace(BASE, mode="img2img", mask=None, checkpoint="tiny-inpaint", width=16, height=16),
              inpaint_manager, samplers)
    assert img.images[0].size == (16, 16)
    assert any("img2img ran as an inpaint of the whole picture" in w for w in img.warnings)


def test_ordinary_checkpoint_keeps_txt2img(inpaint_manager):
    loaded = inpaint_manager.load(inpaint_manager.resolve("tiny-a"))
    assert pipelines.route("txt2img", loaded.pipe) == pipelines.Route("txt2img")
    assert pipelines.derive(loaded, "txt2img") is loaded.pipe


def test_inpaint_not_masked_keeps_the_masked_part(manager, samplers):
    result = run(replace(BASE, inpainting_mask_invert=True, mask_blur=0), manager, samplers)
    out, original = pixels(result.images[0]), pixels(PICTURE)
    assert np.array_equal(out[20:28, 20:28], original[20:28, 20:28])
    assert np.abs(out[:10, :10] - original[:10, :10]).mean() > 10
    assert "Mask mode: Inpaint not masked" in result.infotexts[0]


def test_masked_content_choices_start_differently_and_keep_the_rest(manager, samplers):
    outs = {}
    for fill in range(4):
        result = run(replace(BASE, inpainting_fill=fill, mask_blur=0), manager, samplers)
        outs[fill] = pixels(result.images[0])
        assert np.array_equal(outs[fill][:16], pixels(PICTURE)[:16])
    inside = [o[20:28, 20:28] for o in outs.values()]
    assert all(not np.array_equal(a, b) for i, a in enumerate(inside) for b in inside[i + 1:])
    assert "Masked content: latent noise" in run(replace(BASE, inpainting_fill=2), manager, samplers).infotexts[0]


def test_only_masked_crops_works_at_the_working_size_and_pastes_back(manager, samplers):
    picture = noise_picture(64, 32, seed=4)
    mask = square_mask((64, 32), (40, 10, 45, 15))
    request = replace(BASE, init_images=(picture,), mask=mask, width=16, height=16, inpaint_full_res=True,
                      inpaint_full_res_padding=4, mask_blur=1)
    result = run(request, manager, samplers)
    out, original = pixels(result.images[0]), pixels(picture)
    assert result.images[0].size == (64, 32)  # the picture's own size, not the working size
    # The crop box is the mask (40..45, 10..15) + 1 px blur + 4 px padding: everything left of it is untouched.
    assert np.array_equal(out[:, :30], original[:, :30])
    assert np.array_equal(out[untouched(mask, 1)], original[untouched(mask, 1)])
    assert np.abs(out[11:15, 41:45] - original[11:15, 41:45]).mean() > 10
    params = parse_infotext(result.infotexts[0]).params
    assert params["Inpaint area"] == "Only masked" and params["Masked area padding"] == "4"
    assert params["Size"] == "16x16" and params["Input size"] == "64x32"


@pytest.mark.parametrize("sides", [(8, 0, 0, 0), (5, 3, 8, 0), (0, 0, 0, 13)])
@pytest.mark.parametrize("fill", ["edge", "noise"])
def test_outpaint_extends_the_canvas_and_preserves_the_original(manager, samplers, sides, fill):
    picture = noise_picture(32, 24, seed=2)
    left, right, up, down = sides
    request = replace(BASE, init_images=(picture,), mask=None, outpaint=sides, outpaint_fill=fill)
    result = run(request, manager, samplers)
    out = pixels(result.images[0])
    assert result.images[0].size == (32 + left + right, 24 + up + down)
    assert np.array_equal(out[up:up + 24, left:left + 32], pixels(picture))
    new = np.ones(out.shape[:2], bool)
    new[up:up + 24, left:left + 32] = False
    assert out[new].std() > 0
    params = parse_infotext(result.infotexts[0]).params
    assert params["Outpaint fill"] == fill and params["Outpaint"].startswith(("left", "down"))


def test_outpaint_with_only_masked_and_a_nine_channel_model(inpaint_manager, samplers):
    picture = noise_picture(32, 32, seed=3)
    request = replace(BASE, checkpoint="tiny-inpaint", init_images=(picture,), mask=None, outpaint=(0, 16, 0, 0),
                      inpaint_full_res=True, inpaint_full_res_padding=8, width=16, height=16)
    result = run(request, inpaint_manager, samplers)
    assert result.images[0].size == (48, 32)
    assert np.array_equal(pixels(result.images[0])[:, :32], pixels(picture))


def test_a_mask_of_another_size_is_resized_with_a_note(manager, samplers):
    small = square_mask((24, 24), (10, 10, 13, 13))
    result = run(replace(BASE, mask=small, mask_blur=0), manager, samplers)
    assert any("the mask was resized to fit the picture" in w and "24x24" in w for w in result.warnings)
    out, original = pixels(result.images[0]), pixels(PICTURE)
    assert np.array_equal(out[:16], original[:16])
    assert np.abs(out[21:27, 21:27] - original[21:27, 21:27]).mean() > 10


def test_inpaint_sketch_starts_from_the_painted_colours(manager, samplers):
    sketch = PICTURE.copy()
    ImageDraw.Draw(sketch).rectangle((20, 20, 27, 27), fill=(255, 0, 0))
    result = run(replace(BASE, init_images=(sketch,), denoising_strength=0), manager, samplers)
    assert np.array_equal(pixels(result.images[0]), pixels(sketch))
    painted = run(replace(BASE, init_images=(sketch,), denoising_strength=0.3), manager, samplers)
    assert np.array_equal(pixels(painted.images[0])[:6], pixels(PICTURE)[:6])


def test_sdxl_inpaint_keeps_the_original_outside(sdxl_models, samplers):
    request = replace(BASE, checkpoint=None, init_images=(noise_picture(32, 32),),
                      mask=square_mask((32, 32), (12, 12, 19, 19)), width=32, height=32, mask_blur=0)
    result = run(request, sdxl_models, samplers)
    out, original = pixels(result.images[0]), pixels(request.init_images[0])
    assert np.array_equal(out[:12], original[:12])
    assert isinstance(sdxl_models.loaded.derived["WebuiXLInpaintPipeline"], pipelines.WebuiXLInpaintPipeline)
