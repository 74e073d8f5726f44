"""Forge's API for separate text encoders and VAEs: /sdapi/v1/sd-modules lists them, `forge_additional_modules`
(in override_settings or the user's options) chooses them for a Flux transformer file, and a name that is not there
is refused with the list of files there are."""

from __future__ import annotations

import base64
import io

import pytest
from PIL import Image

from tests.api.conftest import basic, make_accounts, served_client


@pytest.fixture(scope="module")
def flux_models_dir(tmp_path_factory):
    """models/ as a Flux user has it: a tiny Flux transformer file, its CLIP and T5 in text_encoder/, its VAE in VAE/,
    and the tiny model's diffusers folder (whose configs and tokenizers fit the tiny encoders)."""
    from tests.fixtures.tiny_flow import save_tiny_flux
    from training.export_flux import export_single_files

    root = tmp_path_factory.mktemp("flux-models")
    folder = save_tiny_flux(root / "Stable-diffusion" / "tiny-flux", guidance=True)
    export_single_files(folder, root, "tiny-flux-bfl")
    return root


@pytest.fixture(scope="module")
def flux_client(flux_models_dir, tmp_path_factory):
    import torch

    from modules.engine.devices import DeviceConfig

    device = DeviceConfig(torch.device("cpu"), torch.float32, "tests")
    with served_client(flux_models_dir, tmp_path_factory.mktemp("flux-api"), device, per_user_outputs=True,
                       accounts=make_accounts()) as client:
        yield client


def test_sd_modules_lists_the_text_encoder_and_vae_files_as_forge_does(flux_client, flux_models_dir):
    listed = flux_client.get("/sdapi/v1/sd-modules", headers=basic("alice")).json()
    assert {m["model_name"] for m in listed} == {"tiny-flux-bfl-clip.safetensors", "tiny-flux-bfl-t5.safetensors",
                                                 "tiny-flux-bfl-ae.safetensors"}
    assert all(m["filename"].startswith(str(flux_models_dir)) for m in listed)
    ours = {m["name"]: m for m in flux_client.get("/api/v1/modules", headers=basic("alice")).json()}
    assert (ours["tiny-flux-bfl-t5.safetensors"]["kind"], ours["tiny-flux-bfl-ae.safetensors"]["kind"]) == ("t5", "vae")
    models = {m["model_name"] for m in flux_client.get("/sdapi/v1/sd-models", headers=basic("alice")).json()}
    assert "tiny-flux-bfl" in models  # the transformer file is a usable checkpoint


def _txt2img(client, **overrides):
    body = {"prompt": "a red circle", "steps": 2, "width": 32, "height": 32, "seed": 4, "cfg_scale": 1,
            "override_settings": {"sd_model_checkpoint": "tiny-flux-bfl.safetensors", **overrides}}
    return client.post("/sdapi/v1/txt2img", headers=basic("alice"), json=body)


def test_forge_additional_modules_given_as_paths_from_another_machine_choose_the_files(flux_client):
    chosen = ["/stable-diffusion-webui/models/text_encoder/tiny-flux-bfl-clip.safetensors",
              "C:\\forge\\models\\text_encoder\\tiny-flux-bfl-t5.safetensors",
              "/stable-diffusion-webui/models/VAE/tiny-flux-bfl-ae.safetensors"]
    response = _txt2img(flux_client, forge_additional_modules=chosen)
    assert response.status_code == 200, response.text
    info = response.json()["info"]
    for i, name in enumerate(("tiny-flux-bfl-clip", "tiny-flux-bfl-t5", "tiny-flux-bfl-ae"), 1):
        assert f"Module {i}: {name}.safetensors" in info
    picture = Image.open(io.BytesIO(base64.b64decode(response.json()["images"][0])))
    assert picture.size == (32, 32)


def test_a_module_that_is_not_there_is_refused_naming_the_files_there_are(flux_client):
    response = _txt2img(flux_client, forge_additional_modules=["t5xxl_fp16.safetensors"])
    assert 400 <= response.status_code < 500
    assert "t5xxl_fp16.safetensors" in response.text and "tiny-flux-bfl-ae.safetensors" in response.text
    refused = flux_client.post("/sdapi/v1/options", headers=basic("alice"),
                               json={"forge_additional_modules": ["missing.safetensors"]})
    assert 400 <= refused.status_code < 500 and "missing.safetensors" in refused.text


def test_modules_for_a_checkpoint_that_carries_its_own_are_refused_with_the_reason(flux_client):
    body = {"prompt": "a red circle", "steps": 2, "width": 32, "height": 32,
            "override_settings": {"sd_model_checkpoint": "tiny-flux",
                                  "forge_additional_modules": ["tiny-flux-bfl-ae.safetensors"]}}
    response = flux_client.post("/sdapi/v1/txt2img", headers=basic("alice"), json=body)
    assert response.status_code == 422 and "carries its own" in response.text
