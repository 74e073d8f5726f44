"""Z-Image from ComfyUI's single files through the A1111 API: the transformer file is a listed checkpoint, the Qwen3
file is listed as a module, `forge_additional_modules` chooses between two fitting encoders (the choice written in
the infotext), and an encoder of the other family is refused with the reason."""

from __future__ import annotations

import pytest

from tests.api.conftest import basic, make_accounts, served_client

ZIMAGE_FILE = "z_image_turbo_bf16.safetensors"


@pytest.fixture(scope="module")
def zimage_models_dir(tmp_path_factory):
    """models/ as a ComfyUI user has it for Z-Image, beside the family's diffusers folder (configs, tokenizer)."""
    from tests.fixtures import tiny_companion_files as files
    from tests.fixtures import tiny_flow_families as tiny

    root = tmp_path_factory.mktemp("zimage-models")
    folder = tiny.save_tiny_zimage(root / "Stable-diffusion" / "tiny-zimage")
    files.save_zimage_transformer(folder, root / "Stable-diffusion" / ZIMAGE_FILE)
    files.save_qwen3_encoder(folder, root / "text_encoder" / "qwen_3_4b.safetensors")
    files.save_qwen3_encoder(folder, root / "text_encoder" / "qwen_3_4b_fp16.safetensors")
    files.save_flux_vae(folder, root / "VAE" / "ae.safetensors")
    vl = tiny.save_tiny_qwen_image(root / "qwen-source")
    files.save_qwen_vl_encoder(vl, root / "text_encoder" / "qwen_2.5_vl_7b.safetensors")
    return root


@pytest.fixture(scope="module")
def zimage_client(zimage_models_dir, tmp_path_factory):
    import torch

    from modules.engine.devices import DeviceConfig

    device = DeviceConfig(torch.device("cpu"), torch.float32, "tests")
    with served_client(zimage_models_dir, tmp_path_factory.mktemp("zimage-api"), device, per_user_outputs=True,
                       accounts=make_accounts()) as client:
        yield client


def _txt2img(client, modules):
    body = {"prompt": "a red circle", "steps": 2, "width": 32, "height": 32, "seed": 4, "cfg_scale": 1,
            "override_settings": {"sd_model_checkpoint": ZIMAGE_FILE, "forge_additional_modules": modules}}
    return client.post("/sdapi/v1/txt2img", headers=basic("alice"), json=body)


def test_the_transformer_file_and_the_qwen_files_are_listed(zimage_client):
    models = {m["title"].split(" [")[0] for m in zimage_client.get("/sdapi/v1/sd-models",
                                                                   headers=basic("alice")).json()}
    assert ZIMAGE_FILE in models
    listed = {m["model_name"] for m in zimage_client.get("/sdapi/v1/sd-modules", headers=basic("alice")).json()}
    assert {"qwen_3_4b.safetensors", "qwen_3_4b_fp16.safetensors", "qwen_2.5_vl_7b.safetensors"} <= listed


def test_forge_additional_modules_choose_the_qwen3_file_and_the_infotext_names_it(zimage_client):
    response = _txt2img(zimage_client, ["qwen_3_4b_fp16.safetensors", "ae.safetensors"])
    assert response.status_code == 200, response.text
    info = response.json()["info"]
    assert "Module 1: qwen_3_4b_fp16.safetensors, Module 2: ae.safetensors" in info


def test_a_qwen_image_encoder_chosen_for_z_image_is_refused_with_the_reason(zimage_client):
    response = _txt2img(zimage_client, ["qwen_2.5_vl_7b.safetensors"])
    assert 400 <= response.status_code < 500
    assert "qwen_2.5_vl_7b.safetensors is a Qwen2.5-VL text encoder" in response.text and "does not fit" in response.text
