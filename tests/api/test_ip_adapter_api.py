"""IP-Adapter units through sd-webui-controlnet's API on the real app: listed by /controlnet/module_list and
model_list, sent in alwayson_scripts.controlnet.args as its clients send them, refused with a reason."""

from __future__ import annotations

import base64
import io
import json

import numpy as np
import pytest
from PIL import Image, ImageDraw

from tests.fixtures.ip_adapter import make_ipa_models_dir


@pytest.fixture(scope="module")
def ipa_api_models(tiny_models_dir, tmp_path_factory):
    return make_ipa_models_dir(tmp_path_factory.mktemp("ipa-api-models"), tiny_models_dir)


@pytest.fixture
def ipa_client(ipa_api_models, tmp_path, cpu_fp32):

    from tests.api.conftest import served_client

    with served_client(ipa_api_models, tmp_path, cpu_fp32, per_user_outputs=False) as client:
        yield client


def reference() -> str:
    image = Image.new("RGB", (48, 40), (20, 160, 40))
    ImageDraw.Draw(image).ellipse((6, 4, 34, 32), fill=(240, 20, 20))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def payload(**unit) -> dict:
    base = {"enabled": True, "image": reference(), "module": "ip-adapter_clip_sd15",
            "model": "ip-adapter_tiny [a1b2c3d4]", "weight": 0.8, "resize_mode": "Crop and Resize",
            "processor_res": 512, "guidance_start": 0.0, "guidance_end": 1.0, "control_mode": "Balanced",
            "pixel_perfect": False}
    base.update(unit)
    return {"prompt": "a red circle", "steps": 3, "width": 32, "height": 32, "seed": 5,
            "alwayson_scripts": {"controlnet": {"args": [base]}}}


def pixels(response) -> np.ndarray:
    raw = base64.b64decode(response.json()["images"][0])
    return np.asarray(Image.open(io.BytesIO(raw)).convert("RGB"), dtype=np.int16)


def test_the_lists_name_the_ip_adapter_modules_and_models(ipa_client):
    modules = ipa_client.get("/controlnet/module_list").json()["module_list"]
    assert {"ip-adapter-auto", "ip-adapter_clip_sd15", "ip-adapter_clip_sdxl", "ip-adapter_clip_h",
            "ip-adapter_clip_g", "ip-adapter_clip_sdxl_plus_vith"} <= set(modules)
    models = ipa_client.get("/controlnet/model_list").json()["model_list"]
    assert {"ip-adapter_tiny", "ip-adapter_tiny_other", "ip-adapter-plus_tiny"} <= set(models)


def test_a_unit_sent_as_sd_webui_controlnet_clients_send_it_steers_the_picture(ipa_client):
    plain = ipa_client.post("/sdapi/v1/txt2img", json={**payload(), "alwayson_scripts": {}})
    steered = ipa_client.post("/sdapi/v1/txt2img", json=payload())
    assert steered.status_code == 200, steered.text
    info = json.loads(steered.json()["info"])["infotexts"][0]
    assert 'ControlNet 0: "Module: ip-adapter_clip_sd15, Model: ip-adapter_tiny, Weight: 0.8' in info
    assert np.abs(pixels(steered) - pixels(plain)).mean() > 1.0
    assert len(steered.json()["images"]) == 1  # no "detected map": the picture went to CLIP as it is
    after = ipa_client.post("/sdapi/v1/txt2img", json={**payload(), "alwayson_scripts": {}})
    assert np.array_equal(pixels(after), pixels(plain))  # the adapter left the UNet with the job


def test_face_id_modules_and_missing_models_are_refused_with_the_reason(ipa_client):
    face = ipa_client.post("/sdapi/v1/txt2img", json=payload(module="ip-adapter_face_id_plus"))
    assert face.status_code == 422 and "insightface" in face.json()["detail"]
    missing = ipa_client.post("/sdapi/v1/txt2img", json=payload(model="ip-adapter_sd15 [abcd]"))
    assert missing.status_code == 422 and "'ip-adapter_sd15 [abcd]' not found" in missing.json()["detail"]
    mode = ipa_client.post("/sdapi/v1/txt2img", json=payload(control_mode="My prompt is more important"))
    assert mode.status_code == 422 and "Choose Balanced" in mode.json()["detail"]
