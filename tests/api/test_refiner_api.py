"""A1111 1.6's refiner fields through the real app on tiny models: /sdapi/v1 txt2img and img2img, /api/v1/jobs."""

from __future__ import annotations

import json

import numpy as np

from tests.api.conftest import basic
from tests.api.test_sdapi import decode, txt2img
from tests.api.test_jobs_api import sse_events

PAYLOAD = {"prompt": "a red circle", "width": 16, "height": 16, "steps": 4, "seed": 5, "sampler_name": "Euler"}


def pixels(b64: str) -> np.ndarray:
    return np.asarray(decode(b64).convert("RGB"), dtype=np.int16)


def test_txt2img_with_a_refiner_as_a1111_clients_send_it(client):
    plain = txt2img(client, "alice", {**PAYLOAD, "refiner_checkpoint": None, "refiner_switch_at": None})
    assert plain.status_code == 200, plain.text
    refined = txt2img(client, "alice", {**PAYLOAD, "refiner_checkpoint": "tiny-b", "refiner_switch_at": 0.5})
    assert refined.status_code == 200, refined.text
    info = json.loads(refined.json()["info"])
    assert "Refiner: tiny-b [" in info["infotexts"][0] and "Refiner switch at: 0.5" in info["infotexts"][0]
    assert "Refiner" not in json.loads(plain.json()["info"])["infotexts"][0]
    assert not [w for w in info["warnings"] if "refiner" in w.lower()]  # no "ignored" note any more
    assert np.abs(pixels(plain.json()["images"][0]) - pixels(refined.json()["images"][0])).mean() > 1
    # A1111's UI sends "None" for no refiner, and a switch point given as a string is read as a number.
    none = txt2img(client, "alice", {**PAYLOAD, "refiner_checkpoint": "None", "refiner_switch_at": "0.8"})
    assert np.array_equal(pixels(none.json()["images"][0]), pixels(plain.json()["images"][0]))


def test_refiner_title_with_hash_and_string_numbers_are_accepted(client):
    title = "tiny-b [00000000]"  # a stale hash still finds the file by its name, as for sd_model_checkpoint
    response = txt2img(client, "alice", {**PAYLOAD, "refiner_checkpoint": title, "refiner_switch_at": "0.25"})
    assert response.status_code == 200, response.text
    assert "Refiner switch at: 0.25" in json.loads(response.json()["info"])["infotexts"][0]


def test_refiner_errors_name_what_is_wrong(client):
    missing = txt2img(client, "alice", {**PAYLOAD, "refiner_checkpoint": "nope", "refiner_switch_at": 0.5})
    assert missing.status_code == 404 and "nope" in missing.json()["detail"]
    assert "Refiner" in missing.json()["detail"]
    for bad in (1.0, 0, -0.2, 1.5, "half"):
        response = txt2img(client, "alice", {**PAYLOAD, "refiner_checkpoint": "tiny-b", "refiner_switch_at": bad})
        assert response.status_code == 422, (bad, response.text)
        assert "Refiner switch at" in response.json()["detail"]


def test_img2img_with_a_refiner(client):
    from tests.api.test_sdapi_img2img import b64, picture

    payload = {**PAYLOAD, "init_images": [b64(picture(16, 16))], "denoising_strength": 0.75}
    plain = client.post("/sdapi/v1/img2img", headers=basic("alice"), json=payload)
    refined = client.post("/sdapi/v1/img2img", headers=basic("alice"),
                          json={**payload, "refiner_checkpoint": "tiny-b", "refiner_switch_at": 0.5})
    assert plain.status_code == 200 and refined.status_code == 200, refined.text
    assert "Refiner: tiny-b [" in json.loads(refined.json()["info"])["infotexts"][0]
    assert np.abs(pixels(plain.json()["images"][0]) - pixels(refined.json()["images"][0])).mean() > 1


def test_jobs_api_takes_the_refiner_too(client):
    submitted = client.post("/api/v1/jobs", headers=basic("alice"),
                            json={**PAYLOAD, "refiner_checkpoint": "tiny-b", "refiner_switch_at": 0.5})
    assert submitted.status_code == 202, submitted.text
    job_id = submitted.json()["id"]
    with client.stream("GET", f"/api/v1/jobs/{job_id}/events", headers=basic("alice")) as stream:
        assert sse_events(stream.read().decode())[-1][0] == "done"
    job = client.get(f"/api/v1/jobs/{job_id}", headers=basic("alice")).json()
    assert job["status"] == "done" and "Refiner: tiny-b [" in job["info"]
    bad = client.post("/api/v1/jobs", headers=basic("alice"),
                      json={**PAYLOAD, "refiner_checkpoint": "tiny-b", "refiner_switch_at": 1})
    assert bad.status_code == 422 and "Refiner switch at" in bad.json()["detail"]
