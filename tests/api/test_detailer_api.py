"""ADetailer through /sdapi/v1 in its own `alwayson_scripts.ADetailer.args` shape (the Photoshop plugin sends it)."""

from __future__ import annotations

import json

import numpy as np

from modules.core.infotext import parse_infotext
from tests.api.conftest import basic
from tests.api.test_sdapi_img2img import b64, decode, img2img, picture


def txt2img(client, payload: dict):
    return client.post("/sdapi/v1/txt2img", headers=basic("alice"),
                       json={"steps": 2, "width": 32, "height": 32, "seed": 4, **payload})


def test_adetailer_args_reach_the_infotext_and_a_picture_without_a_face_is_kept_with_a_warning(client):
    unit = {"ad_model": "face_lbp", "ad_prompt": "a smiling face", "ad_denoising_strength": 0.5,
            "ad_use_steps": True, "ad_steps": 3, "is_api": []}
    response = txt2img(client, {"alwayson_scripts": {"ADetailer": {"args": [True, False, unit]}}})
    assert response.status_code == 200, response.text
    plain = txt2img(client, {})
    assert np.array_equal(np.asarray(decode(response.json()["images"][0])),
                          np.asarray(decode(plain.json()["images"][0])))  # random pixels: no face to redraw
    info = json.loads(response.json()["info"])
    params = parse_infotext(info["infotexts"][0]).params
    assert params["ADetailer prompt"] == "a smiling face" and params["ADetailer steps"] == "3"
    assert params["ADetailer denoising strength"] == "0.5"
    assert "nothing was found" in response.text


def test_an_unknown_adetailer_model_is_a_422_listing_the_models(client):
    response = txt2img(client, {"alwayson_scripts": {"ADetailer": {"args": [{"ad_model": "hand_yolov8n.pt"}]}}})
    assert response.status_code == 422
    assert "ultralytics" in response.text and "AGPL-3.0" in response.text and "face_lbp" in response.text
    response = txt2img(client, {"alwayson_scripts": {"ADetailer": {"args": [{"ad_model": "hands"}]}}})
    assert response.status_code == 422 and "'hands' not found. Available: face_lbp" in response.text


def test_adetailer_refuses_what_it_cannot_do_with_the_reason(client):
    response = txt2img(client, {"alwayson_scripts": {"ADetailer": {"args": [{"ad_use_checkpoint": True,
                                                                            "ad_checkpoint": "other"}]}}})
    assert response.status_code == 422 and "a separate checkpoint per unit is not supported" in response.text


def test_skip_img2img_returns_the_input_with_only_the_redraw(client):
    original = picture(seed=3)
    response = img2img(client, {"init_images": [b64(original)], "denoising_strength": 0.9,
                                "alwayson_scripts": {"ADetailer": {"args": [True, True, {"ad_model": "face_lbp"}]}}})
    assert response.status_code == 200, response.text
    out = decode(response.json()["images"][0]).convert("RGB")
    assert np.array_equal(np.asarray(out), np.asarray(original))  # no face in noise: the input, untouched
    assert "Denoising strength: 0" in json.loads(response.json()["info"])["infotexts"][0]


def test_adetailers_model_route_lists_the_detectors_there_are(client):
    response = client.get("/adetailer/v1/ad_model", headers=basic("alice"))
    assert response.status_code == 200 and response.json() == {"ad_model": ["face_lbp"]}
    assert client.get("/adetailer/v1/version", headers=basic("alice")).json()["version"]
