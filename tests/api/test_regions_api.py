"""Regions through the API: our top-level `regions` on /sdapi/v1/txt2img, img2img and /api/v1/jobs, Regional
Prompter's alwayson_scripts shape, and clear 422s for what cannot be drawn."""

from __future__ import annotations

import json

from PIL import Image, ImageDraw

from modules.core.regions import from_infotext
from tests.api.conftest import basic
from tests.api.test_sdapi_img2img import b64, img2img, picture

SMALL = {"width": 32, "height": 32, "steps": 2, "seed": 3, "prompt": "a scene"}
LEFT = {"prompt": "a red circle", "box": [0, 0, 0.5, 1]}


def infotext_of(response) -> str:
    return json.loads(response.json()["info"])["infotexts"][0]


def test_txt2img_regions_with_a_box_and_a_mask_reach_the_picture_and_its_infotext(client):
    mask = Image.new("L", (32, 32), 0)
    ImageDraw.Draw(mask).rectangle((16, 0, 31, 31), fill=255)
    regions = [LEFT, {"prompt": "a blue square", "mask": b64(mask), "weight": 0.7}]
    plain = client.post("/sdapi/v1/txt2img", headers=basic("alice"), json=SMALL)
    response = client.post("/sdapi/v1/txt2img", headers=basic("alice"), json={**SMALL, "regions": regions})
    assert response.status_code == 200, response.text
    assert response.json()["images"][0] != plain.json()["images"][0]
    text = infotext_of(response)
    params = text.rsplit("\n", 1)[-1]
    read = from_infotext(json.loads(params.split("Regions: ", 1)[1].split(", Version")[0]))
    assert [r.prompt for r in read] == ["a red circle", "a blue square"] and read[1].weight == 0.7
    assert read[1].mask.startswith("4x4:")  # the mask on the 32 px picture's latent grid


def test_regional_prompter_args_become_regions_over_the_base_prompt(client):
    script = {"Regional Prompter": {"args": [True, False, "Matrix", "Columns", "Mask", "Prompt", "1,1", "0.2",
                                             True, False, False, "Attention"]}}
    payload = {**SMALL, "prompt": "two shapes ADDBASE a red circle BREAK a blue circle", "alwayson_scripts": script}
    response = client.post("/sdapi/v1/txt2img", headers=basic("alice"), json=payload)
    assert response.status_code == 200, response.text
    text = infotext_of(response)
    assert text.startswith("two shapes\n")
    assert '\\"prompt\\":\\"a blue circle\\",\\"weight\\":0.8,\\"box\\":[0.5,0.0,1.0,1.0]' in text


def test_img2img_and_jobs_take_regions(client):
    response = img2img(client, {"init_images": [b64(picture())], "regions": [LEFT], "denoising_strength": 0.5})
    assert response.status_code == 200, response.text
    assert "Regions: " in infotext_of(response)
    submitted = client.post("/api/v1/jobs", headers=basic("alice"), json={**SMALL, "regions": [LEFT]})
    assert submitted.status_code == 202, submitted.text


def test_bad_regions_are_a_422_that_says_what_to_send(client):
    cases = [
        ([{"prompt": "x", "box": [0, 0, 320, 1]}], "fractions of the picture"),
        ([{"prompt": "x", "box": [0, 0, 1, 1], "negative": "y"}], "fields that mean nothing here: negative"),
        ([{"prompt": "", "box": [0, 0, 1, 1]}], "Region 1 has no prompt"),
        ([{"prompt": "x", "mask": "not a picture"}], "Region 1's mask"),
        ({"prompt": "x"}, "regions must be a list"),
    ]
    for regions, fragment in cases:
        response = client.post("/sdapi/v1/txt2img", headers=basic("alice"), json={**SMALL, "regions": regions})
        assert response.status_code == 422 and fragment in response.text, (regions, response.text)
    latent = {"regional prompter": {"args": [True, False, "Matrix", "Columns", "", "", "1,1", "0.2", False, False,
                                             False, "Latent"]}}
    response = client.post("/sdapi/v1/txt2img", headers=basic("alice"),
                           json={**SMALL, "prompt": "a BREAK b", "alwayson_scripts": latent})
    assert response.status_code == 422 and "Latent calculation mode is not supported" in response.text
