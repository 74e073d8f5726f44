"""Flux through A1111's API: `distilled_cfg_scale` does what Forge's does and is written in the infotext; a feature
a Flux checkpoint cannot take is refused before queueing, with the reason; the hires fix runs its second pass."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.api.conftest import served_client


@pytest.fixture(scope="module")
def flux_models_dir(tmp_path_factory) -> Path:
    from tests.fixtures.tiny_flow import save_tiny_flux

    root = tmp_path_factory.mktemp("flux-api-models")
    save_tiny_flux(root / "Stable-diffusion" / "tiny-flux-dev", guidance=True)
    (root / "VAE").mkdir()
    return root


@pytest.fixture
def flux_client(flux_models_dir, tmp_path, cpu_fp32):
    with served_client(flux_models_dir, tmp_path, cpu_fp32, per_user_outputs=False) as client:
        yield client


def _payload(**fields) -> dict:
    return {"prompt": "a red circle", "negative_prompt": "", "steps": 2, "cfg_scale": 1, "width": 32, "height": 32,
            "seed": 3, "sampler_name": "Euler", "override_settings": {"sd_model_checkpoint": "tiny-flux-dev"},
            **fields}


def test_distilled_cfg_scale_reaches_flux_and_comes_back_in_the_infotext(flux_client):
    reply = flux_client.post("/sdapi/v1/txt2img", json=_payload(distilled_cfg_scale=6.5))
    assert reply.status_code == 200, reply.text
    info = json.loads(reply.json()["info"])
    assert "Distilled CFG Scale: 6.5" in info["infotexts"][0]
    assert info["distilled_cfg_scale"] == 6.5


def test_a_distilled_cfg_scale_that_is_not_a_number_is_refused(flux_client):
    reply = flux_client.post("/sdapi/v1/txt2img", json=_payload(distilled_cfg_scale="lots"))
    assert reply.status_code == 422
    assert "Distilled CFG Scale must be a number" in reply.text


def test_the_hires_fix_on_a_flux_checkpoint_draws_at_the_hires_size_and_writes_its_fields(flux_client):
    import base64
    import io

    from PIL import Image

    reply = flux_client.post("/sdapi/v1/txt2img", json=_payload(enable_hr=True, hr_scale=2, hr_upscaler="Lanczos",
                                                                hr_second_pass_steps=1, denoising_strength=0.5))
    assert reply.status_code == 200, reply.text
    picture = Image.open(io.BytesIO(base64.b64decode(reply.json()["images"][0])))
    assert picture.size == (64, 64)
    assert "Hires upscaler: Lanczos" in json.loads(reply.json()["info"])["infotexts"][0]


def test_a_hires_size_a_flux_checkpoint_cannot_take_is_refused_before_queueing_with_the_reason(flux_client):
    reply = flux_client.post("/sdapi/v1/txt2img", json=_payload(enable_hr=True, hr_scale=1.25))
    assert reply.status_code == 422
    assert "hires width has to be a multiple of 16" in reply.text
