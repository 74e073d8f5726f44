"""Soft inpainting through /sdapi/v1/img2img in A1111's alwayson_scripts shape."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image

from tests.api.test_sdapi_img2img import b64, decode, img2img, picture


def grey_mask() -> np.ndarray:
    values = np.zeros((32, 32), dtype=np.uint8)
    values[:, 16:] = 128
    return values


def test_a1111_soft_inpainting_args_soften_the_repaint_and_reach_the_infotext(client):
    original = picture()
    payload = {"init_images": [b64(original)], "mask": b64(Image.fromarray(grey_mask(), "L")), "mask_blur": 0,
               "inpaint_full_res": 0, "denoising_strength": 1.0, "seed": 2,
               "alwayson_scripts": {"Soft Inpainting": {"args": [True, 1, 0.5, 4, 0, 0.5, 2]}}}
    response = img2img(client, payload)
    assert response.status_code == 200, response.text
    out = np.asarray(decode(response.json()["images"][0]).convert("RGB"), dtype=np.int16)
    before = np.asarray(original, dtype=np.int16)
    assert np.array_equal(out[:, :16], before[:, :16])
    infotext = json.loads(response.json()["info"])["infotexts"][0]
    assert "Soft inpainting enabled: True" in infotext and "Soft inpainting preservation strength: 0.5" in infotext


def test_bad_soft_inpainting_args_are_a_422_naming_the_field(client):
    payload = {"init_images": [b64(picture())], "mask": b64(picture()),
               "alwayson_scripts": {"soft inpainting": {"args": [True, 1, 0.5, 0.5]}}}
    response = img2img(client, payload)
    assert response.status_code == 422
    assert "Soft inpainting transition contrast boost must be between 1 and 32" in response.text
