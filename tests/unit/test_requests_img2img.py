"""Validation of img2img and inpaint requests: clear messages for what cannot run."""

from __future__ import annotations

import io
from dataclasses import replace

import pytest
from PIL import Image, ImageDraw

from modules.core.infotext import parse_infotext
from modules.core.request_infotext import request_fields_from_infotext
from modules.core.requests import MODES, GenerationRequest, Limits, RequestError
from modules.core.validation import as_mask, validate

PICTURE = Image.new("RGB", (32, 24), (10, 20, 30))


def a_mask(size=(32, 24), box=(4, 4, 9, 9)) -> Image.Image:
    mask = Image.new("L", size, 0)
    ImageDraw.Draw(mask).rectangle(box, fill=255)
    return mask


IMG2IMG = GenerationRequest(prompt="x", mode="img2img", width=32, height=24, init_images=(PICTURE,))
INPAINT = replace(IMG2IMG, mode="inpaint", mask=a_mask())


def test_modes():
    assert MODES == ("txt2img", "img2img", "inpaint")
    assert validate(IMG2IMG).mode == "img2img"
    assert validate(INPAINT).mask is not None


def test_img2img_needs_a_picture():
    with pytest.raises(RequestError, match="img2img needs an input picture: upload one"):
        validate(replace(IMG2IMG, init_images=()))
    with pytest.raises(RequestError, match="not a picture"):
        validate(replace(IMG2IMG, init_images=("picture.png",)))


def test_denoising_strength_range_and_normalisation():
    assert validate(replace(IMG2IMG, denoising_strength="0.5")).denoising_strength == 0.5
    for bad in (-0.1, 1.5):
        with pytest.raises(RequestError, match="Denoising strength must be between 0 and 1"):
            validate(replace(IMG2IMG, denoising_strength=bad))


def test_resize_mode_by_index_or_a1111_name():
    assert validate(replace(IMG2IMG, resize_mode="Crop and resize")).resize_mode == 1
    assert validate(replace(IMG2IMG, resize_mode=2.0)).resize_mode == 2
    with pytest.raises(RequestError, match=r"Resize mode must be one of 0 \(Just resize\), 1 \(Crop and resize\)"):
        validate(replace(IMG2IMG, resize_mode=3))


def test_masked_content_by_index_or_name():
    assert validate(replace(INPAINT, inpainting_fill="latent noise")).inpainting_fill == 2
    with pytest.raises(RequestError, match="Masked content must be one of"):
        validate(replace(INPAINT, inpainting_fill="blur"))


def test_inpaint_needs_a_mask_unless_outpainting():
    with pytest.raises(RequestError, match="Inpaint needs a mask: paint over"):
        validate(replace(INPAINT, mask=None))
    assert validate(replace(INPAINT, mask=None, outpaint=(8, 0, 0, 0))).outpaint == (8, 0, 0, 0)


def test_empty_mask_is_nothing_to_inpaint():
    with pytest.raises(RequestError, match="Nothing to inpaint: the mask is empty"):
        validate(replace(INPAINT, mask=Image.new("L", (32, 24), 0)))
    full = Image.new("L", (32, 24), 255)
    with pytest.raises(RequestError, match="Nothing to inpaint: the mask covers the whole picture"):
        validate(replace(INPAINT, mask=full, inpainting_mask_invert=True))
    assert validate(replace(INPAINT, mask=full)).mask is full


def test_transparent_mask_uses_its_alpha_like_a1111():
    mask = Image.new("RGBA", (8, 8), (0, 0, 0, 0))
    mask.putpixel((2, 3), (0, 0, 0, 255))  # opaque black: still "repaint", the alpha decides
    converted = as_mask(mask)
    assert converted.mode == "L" and converted.getbbox() == (2, 3, 3, 4)
    assert as_mask(Image.new("RGB", (4, 4), (255, 255, 255))).getextrema() == (255, 255)


def test_huge_and_broken_pictures_are_refused_clearly():
    with pytest.raises(RequestError, match="is 9000x8 pixels, over the limit of 8192 pixels per side"):
        validate(replace(IMG2IMG, init_images=(Image.new("1", (9000, 8)),)))
    with pytest.raises(RequestError, match="The mask is 100x10 pixels, over the limit of 64"):
        validate(replace(INPAINT, mask=Image.new("L", (100, 10), 255)), Limits(max_input_side=64))
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (1, 2, 3)).save(buffer, format="PNG")
    truncated = Image.open(io.BytesIO(buffer.getvalue()[:-40]))
    with pytest.raises(RequestError, match="could not be read"):
        validate(replace(IMG2IMG, init_images=(truncated,)))


def test_outpaint_checks():
    with pytest.raises(RequestError, match="four numbers"):
        validate(replace(INPAINT, outpaint=(8, 8)))
    with pytest.raises(RequestError, match="Outpaint fill must be one of edge, noise"):
        validate(replace(INPAINT, outpaint=(8, 0, 0, 0), outpaint_fill="blur"))
    with pytest.raises(RequestError, match="would be 2056x24 pixels, over the limit of 2048"):
        validate(replace(INPAINT, outpaint=(2024, 0, 0, 0)))
    # "Only masked" works at width x height, so a big canvas is fine there.
    assert validate(replace(INPAINT, outpaint=(2024, 0, 0, 0), inpaint_full_res=True)).inpaint_full_res


def test_mask_blur_and_padding_ranges():
    with pytest.raises(RequestError, match="Mask blur must be between 0 and 64"):
        validate(replace(INPAINT, mask_blur=65))
    with pytest.raises(RequestError, match="Only masked padding must be between"):
        validate(replace(INPAINT, inpaint_full_res_padding=-1))


def test_txt2img_ignores_picture_fields():
    request = validate(GenerationRequest(prompt="x", width=16, height=16, denoising_strength=7))
    assert request.denoising_strength == 7  # not checked: txt2img does not use it


def test_infotext_gives_img2img_fields():
    info = parse_infotext("x\nSteps: 4, Seed: 1, Size: 16x16, Denoising strength: 0.4, Mask blur: 6, "
                          "Masked area padding: 12")
    out = request_fields_from_infotext(info.prompt, info.negative_prompt, info.params)
    assert (out["denoising_strength"], out["mask_blur"], out["inpaint_full_res_padding"]) == (0.4, 6, 12)
