"""Edit and fill models through A1111's API: a Kontext edit is an /sdapi/v1/img2img call (the prompt is the
instruction, init_images the reference), a Kontext inpaint one with a mask (the first picture inpainted, a second
its reference); what the model cannot take is refused before queueing, with the reason."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import pytest
from PIL import Image

from tests.api.conftest import served_client


@pytest.fixture(scope="module")
def edit_models_dir(tmp_path_factory) -> Path:
    from tests.fixtures.tiny_flow_families import save_tiny_flux_fill, save_tiny_flux_kontext

    root = tmp_path_factory.mktemp("flux-edit-api-models")
    save_tiny_flux_kontext(root / "Stable-diffusion" / "tiny-kontext")
    save_tiny_flux_fill(root / "Stable-diffusion" / "tiny-fill")
    (root / "VAE").mkdir()
    return root


@pytest.fixture
def client(edit_models_dir, tmp_path, cpu_fp32):
    with served_client(edit_models_dir, tmp_path, cpu_fp32, per_user_outputs=False) as client:
        yield client


def _picture(colour=(200, 30, 30)) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), colour).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def _payload(checkpoint: str, **fields) -> dict:
    return {"prompt": "make the circle blue", "negative_prompt": "", "steps": 2, "cfg_scale": 1, "width": 32,
            "height": 32, "seed": 3, "sampler_name": "Euler", "init_images": [_picture()],
            "override_settings": {"sd_model_checkpoint": checkpoint}, **fields}


def test_a_kontext_edit_through_img2img_returns_the_picture_and_its_edit_fields(client):
    reply = client.post("/sdapi/v1/img2img", json=_payload("tiny-kontext", distilled_cfg_scale=2.5))
    assert reply.status_code == 200, reply.text
    assert len(reply.json()["images"]) == 1
    info = reply.json()["info"]
    assert "Edit references: 1" in info and "Distilled CFG Scale: 2.5" in info


def test_two_references_for_kontext_are_refused_before_queueing(client):
    reply = client.post("/sdapi/v1/img2img", json=_payload("tiny-kontext", init_images=[_picture(), _picture()]))
    assert reply.status_code == 422
    assert "at most 1 reference picture" in reply.text


def _mask() -> str:
    mask = Image.new("L", (32, 32), 0)
    mask.paste(255, (8, 8, 24, 24))
    buffer = io.BytesIO()
    mask.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def test_a_kontext_inpaint_through_img2img_takes_the_mask_and_the_second_picture_as_its_reference(client):
    reply = client.post("/sdapi/v1/img2img", json=_payload("tiny-kontext", mask=_mask(), mask_blur=2,
                                                           denoising_strength=0.8,
                                                           init_images=[_picture(), _picture((20, 30, 220))]))
    assert reply.status_code == 200, reply.text
    picture = Image.open(io.BytesIO(base64.b64decode(reply.json()["images"][0])))
    assert picture.size == (32, 32) and picture.convert("RGB").getpixel((0, 0)) == (200, 30, 30)  # kept outside
    info = reply.json()["info"]
    assert "Edit references: 1" in info and "Mask blur: 2" in info and "Denoising strength: 0.8" in info


def test_a_kontext_inpaint_with_two_references_is_refused_before_queueing(client):
    reply = client.post("/sdapi/v1/img2img", json=_payload("tiny-kontext", mask=_mask(),
                                                           init_images=[_picture(), _picture(), _picture()]))
    assert reply.status_code == 422
    assert "inpaints one picture with at most 1 reference picture" in reply.text


def test_txt2img_on_flux_fill_is_refused_before_queueing_naming_what_it_is(client):
    payload = _payload("tiny-fill")
    del payload["init_images"]
    reply = client.post("/sdapi/v1/txt2img", json=payload)
    assert reply.status_code == 422
    assert "It is an inpainting model" in reply.text
