"""sd-webui-controlnet's API on the real app: units in alwayson_scripts, model/module lists, detect; and the
LoRA listing."""

from __future__ import annotations

import base64
import io
import json

import numpy as np
import pytest
from PIL import Image, ImageDraw


def b64(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def drawing() -> str:
    image = Image.new("RGB", (64, 64), (255, 255, 255))
    ImageDraw.Draw(image).ellipse((12, 12, 52, 52), outline=(0, 0, 0), width=3)
    return b64(image)


@pytest.fixture
def cn_client(cn_models_dir, tmp_path, cpu_fp32):

    from tests.api.conftest import served_client

    with served_client(cn_models_dir, tmp_path, cpu_fp32, per_user_outputs=False) as client:
        yield client


def payload(**unit) -> dict:
    # The shape real clients send (Krita/Photoshop plugins, bots): extension field names, a hash in the model.
    base = {"enabled": True, "image": drawing(), "module": "invert (from white bg & black line)",
            "model": "tiny-cn [0123abcd]", "weight": 1.0, "resize_mode": "Crop and Resize", "lowvram": False,
            "processor_res": 64, "guidance_start": 0.0, "guidance_end": 1.0, "control_mode": "Balanced",
            "pixel_perfect": False}
    base.update(unit)
    return {"prompt": "a red circle", "steps": 3, "width": 32, "height": 32, "seed": 5,
            "alwayson_scripts": {"ControlNet": {"args": [base, {"enabled": False}]}}}


def pixels(response) -> np.ndarray:
    raw = base64.b64decode(response.json()["images"][0])
    return np.asarray(Image.open(io.BytesIO(raw)).convert("RGB"), dtype=np.int16)


def test_lists(cn_client):
    assert cn_client.get("/controlnet/version").json() == {"version": 2}
    models = cn_client.get("/controlnet/model_list").json()["model_list"]
    assert {"tiny-cn", "tiny-cn2", "sd15-cn"} <= set(models)
    modules = cn_client.get("/controlnet/module_list").json()
    assert {"none", "canny", "scribble_threshold", "openpose", "depth_midas"} <= set(modules["module_list"])
    assert modules["module_detail"]["softedge_hed"]["missing_files"] == ["ControlNetHED.pth"]
    assert cn_client.get("/controlnet/settings").json()["control_net_unit_count"] == 3


def test_detect_runs_the_preprocessor(cn_client):
    out = cn_client.post("/controlnet/detect", json={"controlnet_module": "scribble_threshold",
                                                     "controlnet_input_images": [drawing()],
                                                     "controlnet_processor_res": 64})
    assert out.status_code == 200, out.text
    arr = np.asarray(Image.open(io.BytesIO(base64.b64decode(out.json()["images"][0]))))
    assert arr.shape[:2] == (64, 64) and arr[0, 0, 0] == 0 and arr.max() == 255
    missing = cn_client.post("/controlnet/detect", json={"controlnet_module": "softedge_hed",
                                                         "controlnet_input_images": [drawing()]})
    assert missing.status_code == 422 and "ControlNetHED.pth" in missing.json()["detail"]
    huge = cn_client.post("/controlnet/detect", json={"controlnet_module": "canny", "controlnet_input_images": [drawing()],
                                                      "controlnet_processor_res": 100000})
    assert huge.status_code == 422 and "between 64 and" in huge.json()["detail"]
    words = cn_client.post("/controlnet/detect", json={"controlnet_module": "canny", "controlnet_input_images": [drawing()],
                                                       "controlnet_threshold_a": "low"})
    assert words.status_code == 422 and "must be numbers" in words.json()["detail"]


def test_txt2img_with_a_unit(cn_client):
    plain = cn_client.post("/sdapi/v1/txt2img", json={**payload(), "alwayson_scripts": {}})
    steered = cn_client.post("/sdapi/v1/txt2img", json=payload())
    assert steered.status_code == 200, steered.text
    info = json.loads(steered.json()["info"])
    assert 'ControlNet 0: "Module: invert' in info["infotexts"][0]
    assert np.abs(pixels(steered) - pixels(plain)).mean() > 1.0
    legacy = cn_client.post("/sdapi/v1/txt2img", json=payload(input_image=drawing(), image=None, guessmode=True,
                                                              control_mode=None, resize_mode="Envelope (Outer Fit)"))
    assert legacy.status_code == 200, legacy.text
    legacy_info = json.loads(legacy.json()["info"])["infotexts"][0]
    assert "Control Mode: ControlNet is more important" in legacy_info and "Resize Mode: Resize and Fill" in legacy_info
    hires = cn_client.post("/sdapi/v1/txt2img", json={**payload(hr_option="Low res only"), "enable_hr": True,
                                                      "hr_scale": 2, "hr_upscaler": "Latent", "denoising_strength": 0.5})
    assert hires.status_code == 200, hires.text
    assert "Hr Option: Low res only" in json.loads(hires.json()["info"])["infotexts"][0]


def test_bad_units_are_refused_with_a_message(cn_client):
    wrong = cn_client.post("/sdapi/v1/txt2img", json=payload(model="sd15-cn"))
    assert wrong.status_code == 422 and "SD 1.x" in wrong.json()["detail"]
    missing = cn_client.post("/sdapi/v1/txt2img", json=payload(model="nope"))
    assert missing.status_code == 422 and "'nope' not found" in missing.json()["detail"]
    weight = cn_client.post("/sdapi/v1/txt2img", json=payload(weight=5))
    assert weight.status_code == 422 and "weight must be between 0 and 2" in weight.json()["detail"]


def test_lora_listing_and_refresh(open_client, tiny_models_dir):
    assert open_client.get("/sdapi/v1/loras").json() == []
    assert open_client.post("/sdapi/v1/refresh-loras").status_code == 200
