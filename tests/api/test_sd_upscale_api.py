"""script_name "sd upscale" on /sdapi/v1/img2img, with A1111's positional script_args [_, overlap, upscaler,
scale_factor] as its own API test sends them (upscaler by name) and as its UI's Radio does (by index)."""

from __future__ import annotations

import base64
import io
import json

import numpy as np
import pytest
from PIL import Image


def b64(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def picture() -> Image.Image:
    return Image.fromarray(np.random.default_rng(1).integers(0, 256, (32, 32, 3), dtype=np.uint8))


@pytest.fixture
def client(tiny_models_dir, tmp_path, cpu_fp32):
    from fastapi.testclient import TestClient

    from modules.api.app import build_app
    from modules.service.services import start_extensions
    from tests.api.conftest import make_services

    services = make_services(tiny_models_dir, tmp_path, cpu_fp32, per_user_outputs=False)
    start_extensions(services)  # the shipped extensions/, sd-upscale among them
    services.jobs.start()
    with TestClient(build_app(services)) as test_client:
        yield test_client
    services.jobs.stop()


def img2img(**fields) -> dict:
    return {"init_images": [b64(picture())], "prompt": "a red circle", "steps": 2, "width": 24, "height": 24,
            "seed": 3, "denoising_strength": 0.0, "sampler_name": "Euler", **fields}


@pytest.mark.parametrize("args", [["", 8, "Lanczos", 2.0], [None, "8", 1, "2"]], ids=["by-name", "by-index"])
def test_sd_upscale_with_a1111s_script_args(client, args):
    response = client.post("/sdapi/v1/img2img", json=img2img(script_name="sd upscale", script_args=args))
    assert response.status_code == 200, response.text
    body = response.json()
    assert len(body["images"]) == 1
    out = Image.open(io.BytesIO(base64.b64decode(body["images"][0]))).convert("RGB")
    assert out.size == (64, 64)
    # Strength 0: the tiles come back as they went, so the seams disappear into the Lanczos upscale.
    assert np.array_equal(np.asarray(out), np.asarray(picture().resize((64, 64), Image.Resampling.LANCZOS)))
    info = json.loads(body["info"])
    assert "SD upscale overlap: 8, SD upscale upscaler: Lanczos" in info["infotexts"][0]
    assert "Size: 24x24" in info["infotexts"][0]


def test_sd_upscale_is_offered_for_img2img_only_and_bad_args_are_refused(client):
    scripts = client.get("/sdapi/v1/scripts").json()
    assert "sd upscale" in scripts["img2img"] and "sd upscale" not in scripts["txt2img"]
    assert "x/y/z plot" in scripts["txt2img"] and "x/y/z plot" in scripts["img2img"]
    txt = client.post("/sdapi/v1/txt2img", json={"prompt": "x", "steps": 1, "width": 16, "height": 16,
                                                 "script_name": "sd upscale", "script_args": ["", 8, 1, 2]})
    assert txt.status_code == 422 and "img2img only" in txt.json()["detail"]
    far = client.post("/sdapi/v1/img2img", json=img2img(script_name="sd upscale", script_args=["", 8, 42, 2]))
    assert far.status_code == 422 and "upscaler_index 42 is out of range" in far.json()["detail"]
    big = client.post("/sdapi/v1/img2img", json=img2img(script_name="SD Upscale", script_args=["", 8, 1, 2],
                                                        width=128, height=128))
    assert big.status_code == 422 and "smaller than one tile" in big.json()["detail"]
