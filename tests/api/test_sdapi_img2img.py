"""/sdapi/v1/img2img as A1111 clients (Photoshop/Krita plugins, bots) use it, on tiny random checkpoints."""

from __future__ import annotations

import base64
import io
import json
import struct
import zlib

import numpy as np
import pytest
from PIL import Image, ImageDraw

from modules.core.infotext import read_image_infotext
from tests.api.conftest import basic


def b64(image: Image.Image, data_uri: bool = False) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    text = base64.b64encode(buffer.getvalue()).decode()
    return f"data:image/png;base64,{text}" if data_uri else text


def decode(text: str) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(text)))


def picture(width: int = 32, height: int = 32, seed: int = 0) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8))


def mask(size=(32, 32), box=(12, 12, 19, 19)) -> Image.Image:
    m = Image.new("L", size, 0)
    ImageDraw.Draw(m).rectangle(box, fill=255)
    return m


def img2img(client, payload: dict, user: str = "alice"):
    return client.post("/sdapi/v1/img2img", headers=basic(user), json={"steps": 2, "width": 32, "height": 32,
                                                                        **payload})


def test_img2img_returns_pictures_and_a1111_info(client, services):
    response = img2img(client, {"init_images": [b64(picture())], "denoising_strength": 0.5, "seed": 5,
                                "sampler_name": "Euler a", "batch_size": 2, "prompt": "a red circle"})
    assert response.status_code == 200, response.text
    body = response.json()
    info = json.loads(body["info"])
    assert len(body["images"]) == 2 and info["all_seeds"] == [5, 6]
    assert info["denoising_strength"] == 0.5 and info["is_using_inpainting_conditioning"] is False
    for text, infotext in zip(body["images"], info["infotexts"]):
        image = decode(text)
        assert image.size == (32, 32) and read_image_infotext(image) == infotext
        assert "Denoising strength: 0.5" in infotext
    assert body["parameters"]["init_images"] is None and body["parameters"]["denoising_strength"] == 0.5
    saved = sorted(services.outputs.root.rglob("*.png"))
    assert len(saved) == 2 and all(p.relative_to(services.outputs.root).parts[:2] == ("alice", "img2img-images")
                                   for p in saved)


def test_inpaint_keeps_pixels_outside_the_mask(client):
    original = picture()
    response = img2img(client, {"init_images": [b64(original, data_uri=True)], "mask": b64(mask(), data_uri=True),
                                "inpaint_full_res": 0, "mask_blur": 0, "inpainting_fill": 1, "seed": 1})
    assert response.status_code == 200, response.text
    out = np.asarray(decode(response.json()["images"][0]).convert("RGB"), dtype=np.int16)
    keep = np.asarray(mask()) == 0
    assert np.array_equal(out[keep], np.asarray(original, dtype=np.int16)[keep])
    assert np.abs(out[13:19, 13:19] - np.asarray(original, dtype=np.int16)[13:19, 13:19]).mean() > 10
    infotext = json.loads(response.json()["info"])["infotexts"][0]
    assert "Mask blur: 0" in infotext and "Masked content: original" in infotext


def test_a1111_api_defaults_inpaint_only_masked_and_keep_the_picture_size(client):
    original = picture(48, 32)
    response = img2img(client, {"init_images": [b64(original)], "mask": b64(mask((48, 32), (30, 10, 35, 15))),
                                "width": 16, "height": 16})
    assert response.status_code == 200, response.text
    out = np.asarray(decode(response.json()["images"][0]).convert("RGB"), dtype=np.int16)
    assert out.shape == (32, 48, 3)
    assert np.array_equal(out[:, :20], np.asarray(original, dtype=np.int16)[:, :20])  # outside the crop box
    infotext = json.loads(response.json()["info"])["infotexts"][0]
    assert "Inpaint area: Only masked" in infotext and "Masked content: fill" in infotext


def test_include_init_images_echoes_them(client):
    data = b64(picture(16, 16))
    response = img2img(client, {"init_images": [data], "include_init_images": True, "width": 16, "height": 16})
    assert response.status_code == 200 and response.json()["parameters"]["init_images"] == [data]


def test_mask_of_another_size_is_resized_with_a_warning(client):
    response = img2img(client, {"init_images": [b64(picture())], "mask": b64(mask((16, 16), (4, 4, 9, 9))),
                                "inpaint_full_res": False})
    assert response.status_code == 200, response.text
    warnings = json.loads(response.json()["info"])["warnings"]
    assert any("the mask was resized to fit the picture" in w for w in warnings)


def huge_png(side: int = 20000) -> bytes:
    """A valid 1-bit PNG of side x side pixels, made without holding it in memory (it compresses to ~60 kB)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = b"\x00" + b"\x00" * ((side + 7) // 8)
    compressor = zlib.compressobj(9)
    body = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0))
            + chunk(b"IDAT", body) + chunk(b"IEND", b""))


@pytest.mark.parametrize("payload, fragment", [
    ({"init_images": []}, "init_images is empty"),
    ({"init_images": ["bm90IGEgcGljdHVyZQ=="]}, "could not be read as a picture"),
    ({"init_images": [base64.b64encode(huge_png()).decode()]}, "could not be read as a picture"),
    ({"init_images": ["PICTURE"], "mask": "EMPTY", "inpaint_full_res": False}, "Nothing to inpaint: the mask is empty"),
    ({"init_images": ["PICTURE"], "denoising_strength": 1.5}, "Denoising strength must be between 0 and 1"),
    ({"init_images": ["PICTURE"], "resize_mode": 7}, "Resize mode must be one of"),
])
def test_bad_input_is_refused_with_a_message(client, payload, fragment):
    replacements = {"PICTURE": b64(picture()), "EMPTY": b64(Image.new("L", (32, 32), 0))}
    payload = {k: [replacements.get(v, v) for v in value] if isinstance(value, list) else replacements.get(value, value)
               for k, value in payload.items()}
    response = img2img(client, payload)
    assert response.status_code == 422, response.text
    assert fragment in response.json()["detail"]
