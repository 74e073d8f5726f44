"""A Flux.1 Canny/Depth checkpoint through sd-webui-controlnet's API: its unit, sent with model "None" as the
extension's clients send it, brings the control picture; for other checkpoints such a unit is still skipped."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import pytest
from PIL import Image

from tests.api.conftest import served_client


def _b64(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory) -> Path:
    from tests.fixtures import tiny_flow_families as tiny
    from tests.fixtures.tiny_flow import FLUX_FIXTURE, save_tiny_flux

    root = tmp_path_factory.mktemp("flux-control-api")
    tiny._flux_variant(root / "Stable-diffusion" / "tiny-flux-canny-dev", 2, "FluxControlPipeline",
                       FLUX_FIXTURE.latent_channels * 8, guidance=True)
    save_tiny_flux(root / "Stable-diffusion" / "tiny-flux", seed=1)
    (root / "VAE").mkdir()
    return root


@pytest.fixture
def client(models_dir, tmp_path, cpu_fp32):
    with served_client(models_dir, tmp_path, cpu_fp32, per_user_outputs=False) as client:
        yield client


def _payload(checkpoint: str, picture: Image.Image) -> dict:
    unit = {"enabled": True, "image": _b64(picture), "module": "none", "model": "None", "resize_mode": "Just Resize"}
    return {"prompt": "a red circle", "steps": 2, "width": 32, "height": 32, "seed": 5, "cfg_scale": 1,
            "distilled_cfg_scale": 30, "sampler_name": "Euler", "override_settings": {"sd_model_checkpoint": checkpoint},
            "alwayson_scripts": {"controlnet": {"args": [unit]}}}


def test_a_flux_control_checkpoint_takes_the_units_picture_through_the_api(client):
    square = Image.new("RGB", (32, 32), (0, 0, 0))
    square.paste((255, 255, 255), (8, 8, 24, 24))
    reply = client.post("/sdapi/v1/txt2img", json=_payload("tiny-flux-canny-dev", square))
    assert reply.status_code == 200, reply.text
    images = reply.json()["images"]
    assert len(images) == 2  # the picture, then the control map (sd-webui-controlnet's order)
    assert "Control picture: " in json.loads(reply.json()["info"])["infotexts"][0]
    inverted = client.post("/sdapi/v1/txt2img", json=_payload("tiny-flux-canny-dev", Image.eval(square,
                                                                                               lambda v: 255 - v)))
    assert inverted.json()["images"][0] != images[0]  # the picture steers it


def test_a_model_less_unit_on_another_flux_checkpoint_is_still_skipped_with_a_warning(client):
    reply = client.post("/sdapi/v1/txt2img", json=_payload("tiny-flux", Image.new("RGB", (32, 32))))
    assert reply.status_code == 200, reply.text
    assert len(reply.json()["images"]) == 1
