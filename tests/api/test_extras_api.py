"""A1111's upscaler routes and txt2img hires fields, through the real app on tiny models."""

from __future__ import annotations

import base64
import io
import json

import numpy as np
import pytest
from PIL import Image

from modules.core.infotext import format_infotext
from modules.service.outputs import OutputStore
from tests.api.conftest import basic, make_accounts
from tests.api.test_sdapi import SMALL, decode, txt2img
from tests.core.test_upscalers import save_esrgan


def b64(image: Image.Image, infotext: str | None = None) -> str:
    from PIL.PngImagePlugin import PngInfo

    buffer = io.BytesIO()
    info = PngInfo()
    if infotext:
        info.add_text("parameters", infotext)
    image.save(buffer, format="PNG", pnginfo=info)
    return base64.b64encode(buffer.getvalue()).decode()


@pytest.fixture
def api(tiny_models_dir, tmp_path, cpu_fp32):
    """The app over models/ with tiny-a, an ESRGAN model file and an unreadable one."""
    from fastapi.testclient import TestClient

    from modules.api.app import build_app
    from modules.core.settings import settings_from_args
    from modules.service.services import build_services

    models = tmp_path / "models"
    models.mkdir()
    (models / "Stable-diffusion").symlink_to(tiny_models_dir / "Stable-diffusion", target_is_directory=True)
    save_esrgan(models / "ESRGAN" / "4x-tiny.pth")
    (models / "DAT").mkdir()
    (models / "DAT" / "half-download.safetensors").write_bytes(b"\x00" * 10)
    settings = settings_from_args(["--models-dir", str(models), "--outputs-dir", str(tmp_path / "outputs"),
                                   "--settings-file", str(tmp_path / "settings.json")])
    services = build_services(settings, cpu_fp32, per_user_outputs=True)
    services.jobs.start()
    with TestClient(build_app(services, make_accounts())) as client:
        yield client, services
    services.jobs.stop()


def test_upscalers_and_latent_modes_lists(api):
    client, _ = api
    items = client.get("/sdapi/v1/upscalers", headers=basic("alice")).json()
    names = [item["name"] for item in items]
    assert names == ["None", "Lanczos", "Nearest", "4x-tiny"]
    tiny = items[-1]
    assert tiny["model_name"] == "ESRGAN" and tiny["scale"] == 4 and tiny["model_path"].endswith("4x-tiny.pth")
    assert set(items[0]) == {"name", "model_name", "model_path", "model_url", "scale"}
    modes = client.get("/sdapi/v1/latent-upscale-modes", headers=basic("alice")).json()
    assert [m["name"] for m in modes] == ["Latent", "Latent (antialiased)", "Latent (bicubic)",
                                          "Latent (bicubic antialiased)", "Latent (nearest)",
                                          "Latent (nearest-exact)"]
    refreshed = client.post("/sdapi/v1/refresh-upscalers", headers=basic("alice")).json()
    assert [u["path"].rsplit("/", 1)[-1] for u in refreshed["unsupported"]] == ["half-download.safetensors"]


def test_extra_single_image_scales_keeps_parameters_and_saves(api):
    client, services = api
    source = Image.fromarray((np.random.RandomState(1).rand(12, 10, 3) * 255).astype(np.uint8))
    params = format_infotext("a cat", "", {"Steps": 20, "Seed": 5})
    response = client.post("/sdapi/v1/extra-single-image", headers=basic("alice"), json={
        "image": b64(source, params), "upscaler_1": "4x-tiny", "upscaling_resize": 2})
    assert response.status_code == 200, response.text
    body = response.json()
    out = decode(body["image"])
    assert out.size == (20, 24)
    assert out.info["parameters"] == params  # the picture's own parameters survive
    assert body["html_info"] == "Postprocess upscale by: 2, Postprocess upscaler: 4x-tiny"
    saved = list((services.outputs.root / "alice" / "extras-images").rglob("*.png"))
    assert len(saved) == 1 and saved[0].name[:5].isdigit() and "-" not in saved[0].stem
    on_disk = Image.open(saved[0])
    assert on_disk.info["postprocessing"] == body["html_info"]
    assert on_disk.info["parameters"] == params


def test_extra_batch_images_scale_to_with_crop_and_a_second_upscaler(api):
    client, _ = api
    pictures = [Image.new("RGB", (10, 20), c) for c in ("red", "blue")]
    response = client.post("/sdapi/v1/extra-batch-images", headers=basic("bob"), json={
        "imageList": [{"data": b64(p), "name": f"{i}.png"} for i, p in enumerate(pictures)],
        "resize_mode": 1, "upscaling_resize_w": 32, "upscaling_resize_h": 32, "upscaling_crop": True,
        "upscaler_1": "Lanczos", "upscaler_2": "Nearest", "extras_upscaler_2_visibility": 0.5})
    assert response.status_code == 200, response.text
    body = response.json()
    images = [decode(data) for data in body["images"]]
    assert [im.size for im in images] == [(32, 32), (32, 32)]
    assert np.asarray(images[0])[16, 16].tolist() == [255, 0, 0]
    assert "Postprocess crop to: 32x32" in body["html_info"]
    assert "Postprocess upscaler 2: Nearest" in body["html_info"]


def test_extras_errors_teach(api):
    client, _ = api
    image = b64(Image.new("RGB", (8, 8)))
    bad = client.post("/sdapi/v1/extra-single-image", headers=basic("alice"),
                      json={"image": image, "upscaler_1": "4x-UltraSharp"})
    assert bad.status_code == 422 and "Lanczos" in bad.json()["detail"]
    huge = client.post("/sdapi/v1/extra-single-image", headers=basic("alice"),
                       json={"image": image, "upscaler_1": "Lanczos", "upscaling_resize": 20})
    assert huge.status_code == 422
    empty = client.post("/sdapi/v1/extra-batch-images", headers=basic("alice"), json={"imageList": []})
    assert empty.status_code == 422
    assert client.get("/sdapi/v1/upscalers").status_code == 401


def test_txt2img_hires_fields_as_clients_send_them(api):
    client, _ = api
    # SillyTavern sends every hires field, with enable_hr on or off.
    payload = {**SMALL, "prompt": "a red circle", "seed": 3, "enable_hr": True, "hr_scale": 2,
               "hr_upscaler": "Latent", "hr_second_pass_steps": 2, "denoising_strength": 0.6,
               "hr_sampler_name": "Use same sampler", "hr_checkpoint_name": "Use same checkpoint",
               "hr_prompt": "", "hr_negative_prompt": "", "hr_resize_x": 0, "hr_resize_y": 0}
    response = txt2img(client, "alice", payload)
    assert response.status_code == 200, response.text
    body = response.json()
    assert decode(body["images"][0]).size == (32, 32)
    info = json.loads(body["info"])
    assert info["denoising_strength"] == 0.6
    assert "Hires upscale: 2, Hires steps: 2, Hires upscaler: Latent" in info["infotexts"][0]
    assert "Hires sampler" not in info["infotexts"][0]
    assert not [w for w in info["warnings"] if "hires" in w.lower()]
    off = txt2img(client, "alice", {**payload, "enable_hr": False})
    assert decode(off.json()["images"][0]).size == (16, 16)


def test_txt2img_hires_refuses_unknown_names(api):
    client, _ = api
    base = {**SMALL, "enable_hr": True}
    assert txt2img(client, "alice", {**base, "hr_upscaler": "R-ESRGAN 4x+"}).status_code == 422
    assert txt2img(client, "alice", {**base, "hr_checkpoint_name": "nope"}).status_code == 404
    with_model = txt2img(client, "alice", {**base, "hr_upscaler": "4x-tiny", "hr_scale": 1.5})
    assert with_model.status_code == 200 and decode(with_model.json()["images"][0]).size == (24, 24)


def test_output_store_names_without_seed(tmp_path):
    path = OutputStore(tmp_path).save(Image.new("RGB", (4, 4)), "extras-images", None, "", chunks={"a": "b"})
    assert path.name == "00000.png"
    assert "parameters" not in Image.open(path).info and Image.open(path).info["a"] == "b"
