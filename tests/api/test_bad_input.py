"""Bad input gets a 4xx that says what was wrong, never a 500; costly input is refused before it is queued.

Each case here once answered 500 (or held the single worker for minutes): non-finite numbers, a lone surrogate,
ids past SQLite's integers, a date past the calendar, a PNG text chunk that inflates to 50 MB...
"""

from __future__ import annotations

import base64
import io
import json
import time

import numpy as np
import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from tests.api.conftest import basic

SMALL = {"width": 32, "height": 32, "steps": 1}


def b64(image: Image.Image, pnginfo: PngInfo | None = None) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", pnginfo=pnginfo)
    return base64.b64encode(buffer.getvalue()).decode()


def picture(width: int = 32, height: int = 32, seed: int = 0) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8))


def inflating_png() -> str:
    """A small PNG whose zTXt chunk inflates to 50 MB."""
    info = PngInfo()
    info.add_text("parameters", "a" * 50_000_000, zip=True)
    return b64(Image.new("RGB", (8, 8)), info)


def raw_json(text: str) -> dict:
    """Request arguments sending `text` as the JSON body verbatim (1e400, NaN, "\\ud800" survive as sent)."""
    return {"content": text.encode(), "headers": {**basic("alice"), "Content-Type": "application/json"}}


BIG_ID = str(2**63)
CASES = {
    # name: (method, path, request arguments, a fragment the answer must contain)
    "width 1e400": ("POST", "/sdapi/v1/txt2img", raw_json('{"width": 1e400, "steps": 1}'), "finite"),
    "width NaN": ("POST", "/sdapi/v1/txt2img", raw_json('{"width": NaN, "steps": 1}'), "finite"),
    "cfg_scale -Infinity": ("POST", "/sdapi/v1/txt2img", raw_json('{"cfg_scale": -Infinity}'), "finite"),
    "width a 400-digit integer": ("POST", "/sdapi/v1/txt2img", raw_json('{"width": 1' + "0" * 400 + "}"), "width"),
    "cfg_scale a 400-digit integer": ("POST", "/sdapi/v1/txt2img", raw_json('{"cfg_scale": 1' + "0" * 400 + "}"),
                                      "cfg"),
    "a whole body of 1e400": ("POST", "/sdapi/v1/txt2img", raw_json("1e400"), "finite"),
    "jobs: width 1e400": ("POST", "/api/v1/jobs", raw_json('{"width": 1e400}'), "finite"),
    "CLIP_stop_at_last_layers 1e999": ("POST", "/sdapi/v1/options",
                                       raw_json('{"CLIP_stop_at_last_layers": 1e999}'), "CLIP_stop_at_last_layers"),
    "controlnet_processor_res 1e999": ("POST", "/controlnet/detect", raw_json(
        json.dumps({"controlnet_module": "none", "controlnet_input_images": [b64(picture())]})[:-1]
        + ', "controlnet_processor_res": 1e999}'), "controlnet_processor_res"),
    "png-info text chunk inflating to 50 MB": ("POST", "/sdapi/v1/png-info", {"json": {"image": inflating_png()}},
                                               "text"),
    "extras width -5": ("POST", "/sdapi/v1/extra-single-image", {"json": {
        "image": b64(picture()), "resize_mode": 1, "upscaling_resize_w": -5, "upscaling_resize_h": 64,
        "upscaler_1": "Lanczos"}}, "-5"),
    "a lone surrogate in the prompt": ("POST", "/sdapi/v1/txt2img",
                                       raw_json('{"prompt": "a cat \\ud800", "width": 32, "height": 32, "steps": 1}'),
                                       "surrogate"),
    "a lone surrogate in the sampler name": ("POST", "/sdapi/v1/txt2img",
                                             raw_json('{"sampler_name": "\\udfff", "steps": 1}'), "surrogate"),
    "history id over 2^63": ("GET", f"/api/v1/history/{BIG_ID}", {}, "less than"),
    "history image id over 2^63": ("GET", f"/api/v1/history/{BIG_ID}/image", {}, "less than"),
    "history thumbnail id over 2^63": ("GET", f"/api/v1/history/{BIG_ID}/thumbnail", {}, "less than"),
    "history delete id over 2^63": ("DELETE", f"/api/v1/history/{BIG_ID}", {}, "less than"),
    "history restore id over 2^63": ("POST", f"/api/v1/history/{BIG_ID}/restore", {}, "less than"),
    "history page over 2^63": ("GET", "/api/v1/history", {"params": {"page": BIG_ID}}, "less than"),
    "history until 9999-12-31": ("GET", "/api/v1/history", {"params": {"until": "9999-12-31"}}, "9999-12-31"),
    "history search of 1,500 short words": ("GET", "/api/v1/history", {"params": {"q": " ".join(["ab"] * 1500)}},
                                            "words"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_gets_a_4xx_that_says_what_was_wrong(client, name):
    method, path, kwargs, fragment = CASES[name]
    kwargs = {"headers": basic("alice"), **kwargs}
    response = client.request(method, path, **kwargs)
    assert 400 <= response.status_code < 500, (name, response.status_code, response.text[:500])
    assert fragment.casefold() in response.text.casefold(), (name, response.text[:500])


def test_img2img_with_one_step_and_a_low_denoising_strength_runs_one_step(client):
    response = client.post("/sdapi/v1/img2img", headers=basic("alice"),
                           json={**SMALL, "init_images": [b64(picture())], "denoising_strength": 0.5})
    assert response.status_code == 200, response.text
    info = json.loads(response.json()["info"])
    assert len(response.json()["images"]) == 1
    assert any("ran 1 step" in w for w in info["warnings"]), info["warnings"]


# ---------------------------------------------------------------------------------------------- costly input
def test_a_40kb_prompt_of_brackets_is_refused_at_once_with_the_limit_and_the_size(client):
    started = time.monotonic()
    response = client.post("/sdapi/v1/txt2img", headers=basic("alice"), json={**SMALL, "prompt": "[" * 40_000})
    assert time.monotonic() - started < 5
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert "40,000 characters" in detail and "10,000" in detail, detail


def test_a_prompt_with_too_many_brackets_is_refused_with_the_limit_and_the_count(client, services):
    limit = services.processor.limits.max_prompt_brackets
    response = client.post("/sdapi/v1/txt2img", headers=basic("alice"),
                           json={**SMALL, "negative_prompt": "[a:b:0.5] " * limit})
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert f"{limit:,}" in detail and f"{4 * limit:,}" in detail and "Negative prompt" in detail, detail


def test_img2img_refuses_too_many_pictures(client, services):
    limit = services.processor.limits.max_input_images
    response = client.post("/sdapi/v1/img2img", headers=basic("alice"),
                           json={**SMALL, "init_images": [b64(picture(8, 8))] * (limit + 1)})
    assert response.status_code == 422, response.text
    assert f"{limit + 1} pictures" in response.json()["detail"] and str(limit) in response.json()["detail"]


def test_img2img_refuses_too_many_pixels_before_decoding_them(client, services, monkeypatch):
    """Sizes are read from the headers: pictures over the budget are refused without decoding any pixels."""
    limits = services.processor.limits
    side = int((limits.max_input_pixels / 2) ** 0.5) + 8  # two of these are over the budget, one is not
    blank = Image.new("L", (side, side))  # compresses to a few KB
    decoded = []
    original = Image.Image.load

    def spy(self):
        decoded.append(self.size)
        return original(self)

    data = b64(blank)
    monkeypatch.setattr(Image.Image, "load", spy)
    response = client.post("/sdapi/v1/img2img", headers=basic("alice"), json={**SMALL, "init_images": [data, data]})
    assert response.status_code == 422, response.text
    assert "pixels" in response.json()["detail"] and f"{limits.max_input_pixels:,}" in response.json()["detail"]
    assert (side, side) not in decoded


@pytest.mark.parametrize("chunked", [False, True], ids=["with a length", "in chunks"])
def test_picture_routes_bound_the_request_body(client, chunked):
    from modules.api.schemas import MAX_BODY_BYTES

    body = b'{"init_images": ["' + b"A" * (MAX_BODY_BYTES + 10) + b'"]}'
    content = (body[i:i + 2**20] for i in range(0, len(body), 2**20)) if chunked else body
    response = client.post("/sdapi/v1/img2img", content=content,
                           headers={**basic("alice"), "Content-Type": "application/json"})
    assert response.status_code == 413, response.text[:300]
    assert f"over the limit of {MAX_BODY_BYTES // 2**20} MB" in response.json()["detail"]


def test_a_history_size_over_sqlites_integers_is_a_422(client):
    from tests.api.conftest import basic

    answer = client.get("/api/v1/history", params={"size": "9223372036854775808x1"}, headers=basic("alice"))
    assert answer.status_code == 422 and "width and height" in answer.text
