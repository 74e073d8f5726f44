"""sd-webui-controlnet's returned maps: each enabled unit's preprocessed map follows the pictures in `images`
(txt2img and img2img), once per job, unless the unit says save_detected_map: false; never saved to outputs nor
indexed in History; `infotexts` covers the pictures only. Payloads as in the extension's tests/web_api."""

from __future__ import annotations

import base64
import io
import json
import time

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageOps


def b64(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def decoded(data: str) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(data))).convert("RGB")


def drawing() -> Image.Image:
    """Black ring on white; its inverse is a white ring on black."""
    image = Image.new("RGB", (64, 64), (255, 255, 255))
    ImageDraw.Draw(image).ellipse((12, 12, 52, 52), outline=(0, 0, 0), width=4)
    return image


def unit(**overrides) -> dict:
    # The extension's default_unit of tests/web_api/template.py, with our tiny model and an exact preprocessor.
    base = {"control_mode": "Balanced", "enabled": True, "guidance_end": 1, "guidance_start": 0,
            "pixel_perfect": False, "processor_res": 64, "resize_mode": "Crop and Resize", "threshold_a": -1,
            "threshold_b": -1, "weight": 1, "module": "invert (from white bg & black line)",
            "model": "tiny-cn [0123abcd]", "image": b64(drawing())}
    base.update(overrides)
    return base


def txt2img(*units: dict, **fields) -> dict:
    # The output is the drawing's size, so the map is exactly the preprocessor's output (no resize).
    return {"prompt": "a red circle", "steps": 2, "width": 64, "height": 64, "seed": 5, "n_iter": 1,
            "batch_size": 1, "sampler_name": "Euler a", **fields,
            "alwayson_scripts": {"ControlNet": {"args": list(units)}}}


@pytest.fixture(scope="module")
def cn(cn_models_dir, tmp_path_factory):
    from fastapi.testclient import TestClient

    import torch

    from modules.api.app import build_app
    from modules.engine.devices import DeviceConfig
    from tests.api.conftest import make_services

    # One app for the module: each test adds its own job (a module-scoped fixture cannot use cpu_fp32).
    cpu = DeviceConfig(torch.device("cpu"), torch.float32, "tests run in float32 on the CPU")
    services = make_services(cn_models_dir, tmp_path_factory.mktemp("maps"), cpu, per_user_outputs=False)
    services.jobs.start()
    with TestClient(build_app(services)) as client:
        yield client, services
    services.jobs.stop()


def saved_pictures(services) -> list:
    return sorted(p for p in services.outputs.root.rglob("*.png") if ".history" not in p.parts)


def inverted() -> np.ndarray:
    return np.asarray(ImageOps.invert(drawing()), dtype=np.int16)


def test_a_units_map_follows_the_picture_and_is_the_preprocessors_output(cn):
    client, services = cn
    before = saved_pictures(services)
    response = client.post("/sdapi/v1/txt2img", json=txt2img(unit()))
    assert response.status_code == 200, response.text
    body = response.json()
    info = json.loads(body["info"])
    assert len(body["images"]) == 2 and len(info["infotexts"]) == 1 and len(info["all_seeds"]) == 1
    detected = np.asarray(decoded(body["images"][1]), dtype=np.int16)
    assert np.array_equal(detected, inverted())  # the inverted drawing: a white ring on black
    # The picture carries its infotext; the map none (A1111's encoder writes only what the picture has).
    assert "parameters" in Image.open(io.BytesIO(base64.b64decode(body["images"][0]))).info
    assert "parameters" not in Image.open(io.BytesIO(base64.b64decode(body["images"][1]))).info
    # Only the picture is saved and indexed; the map is neither.
    assert len(saved_pictures(services)) == len(before) + 1
    history = client.get("/api/v1/history", params={"q": "red circle"}).json()
    assert history["total"] == len(before) + 1


def test_maps_come_once_per_job_unit_by_unit_after_all_pictures(cn):
    client, _ = cn
    second = unit(module="none", image=b64(Image.new("RGB", (64, 64), (10, 200, 30))))
    body = client.post("/sdapi/v1/txt2img", json=txt2img(unit(), second, n_iter=2, batch_size=2)).json()
    assert len(body["images"]) == 2 * 2 + 2 and len(json.loads(body["info"])["infotexts"]) == 4
    first_map, second_map = (np.asarray(decoded(b), dtype=np.int16) for b in body["images"][4:])
    assert np.array_equal(first_map, inverted())
    # `none` returns the unit's picture fitted to the output, as the extension does (only its autosave skips it).
    assert np.abs(second_map - np.array([10, 200, 30])).max() <= 1


@pytest.mark.parametrize("flag", [False, "false", 0])
def test_save_detected_map_false_drops_the_map(cn, flag):
    client, _ = cn
    body = client.post("/sdapi/v1/txt2img", json=txt2img(unit(save_detected_map=flag))).json()
    assert len(body["images"]) == 1


def test_a_disabled_unit_and_unknown_keys(cn):
    client, _ = cn
    response = client.post("/sdapi/v1/txt2img", json=txt2img(unit(foo=True, is_ui=False), unit(enabled=False)))
    assert response.status_code == 200, response.text
    body = response.json()
    assert len(body["images"]) == 2
    assert any("foo" in w for w in json.loads(body["info"])["warnings"])
    bad = client.post("/sdapi/v1/txt2img", json=txt2img(unit(save_detected_map="sometimes")))
    assert bad.status_code == 422 and "save_detected_map" in bad.json()["detail"]


def test_img2img_unit_without_a_picture_maps_the_img2img_input(cn):
    client, _ = cn
    payload = {**txt2img(unit(image=None)), "init_images": [b64(drawing())], "denoising_strength": 0.5}
    response = client.post("/sdapi/v1/img2img", json=payload)
    assert response.status_code == 200, response.text
    body = response.json()
    assert len(body["images"]) == 2 and len(json.loads(body["info"])["infotexts"]) == 1
    assert np.array_equal(np.asarray(decoded(body["images"][1]), dtype=np.int16), inverted())


def test_hires_gives_the_second_pass_map_first(cn):
    client, _ = cn
    body = client.post("/sdapi/v1/txt2img", json=txt2img(unit(hr_option="Low res only"), enable_hr=True, hr_scale=2,
                                                         hr_upscaler="Latent", denoising_strength=0.5)).json()
    assert [decoded(b).size for b in body["images"]] == [(128, 128), (128, 128), (64, 64)]
    assert np.array_equal(np.asarray(decoded(body["images"][2]), dtype=np.int16), inverted())


def test_jobs_api_returns_maps_apart_from_the_pictures(cn):
    client, _ = cn
    job = client.post("/api/v1/jobs", json=txt2img(unit())).json()
    for _ in range(600):
        state = client.get(f"/api/v1/jobs/{job['id']}").json()
        if state["status"] in ("done", "failed", "cancelled"):
            break
        time.sleep(0.1)
    assert state["status"] == "done", state
    assert len(state["images"]) == 1
    assert [(m["unit"], m["module"]) for m in state["detected_maps"]] == [(0, "invert")]
    assert np.array_equal(np.asarray(decoded(state["detected_maps"][0]["image"]), dtype=np.int16), inverted())


def test_the_extensions_no_detectmap_option_per_user_and_per_job(cn):
    client, _ = cn
    assert client.get("/sdapi/v1/options").json()["control_net_no_detectmap"] is False
    overridden = client.post("/sdapi/v1/txt2img", json={**txt2img(unit()),
                                                        "override_settings": {"control_net_no_detectmap": True}})
    assert len(overridden.json()["images"]) == 1
    wrong = client.post("/sdapi/v1/txt2img", json={**txt2img(unit()),
                                                   "override_settings": {"control_net_no_detectmap": "yes"}})
    assert wrong.status_code == 422 and "control_net_no_detectmap" in wrong.json()["detail"]
    assert client.post("/sdapi/v1/options", json={"control_net_no_detectmap": True}).status_code == 200
    try:
        assert len(client.post("/sdapi/v1/txt2img", json=txt2img(unit())).json()["images"]) == 1
        saving = client.post("/sdapi/v1/options", json={"control_net_detectmap_autosaving": True})
        assert saving.status_code == 422 and "never saved as pictures" in saving.json()["detail"]
    finally:  # the app is shared by this module's tests
        client.post("/sdapi/v1/options", json={"control_net_no_detectmap": False})
    assert len(client.post("/sdapi/v1/txt2img", json=txt2img(unit())).json()["images"]) == 2
