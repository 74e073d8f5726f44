"""Wildcards through /sdapi/v1/txt2img: Dynamic Prompts' alwayson_scripts switch, info's all_prompts, and a
missing wildcard file refused with its name."""

from __future__ import annotations

import json

from modules.service.wildcards import WildcardFiles
from tests.api.conftest import basic

PAYLOAD = {"prompt": "a __kind__", "width": 16, "height": 16, "steps": 2, "seed": 5, "batch_size": 3}


def test_the_api_draws_a_prompt_per_picture_and_reports_each(client, services, tmp_path):
    (tmp_path / "wc").mkdir()
    (tmp_path / "wc" / "kind.txt").write_text("circle\nsquare\ntriangle\nstar\n")
    services.processor.wildcards = WildcardFiles(tmp_path / "wc")
    payload = {**PAYLOAD, "alwayson_scripts": {"Dynamic Prompts v2.17.1": {"args": [True, True]}}}
    response = client.post("/sdapi/v1/txt2img", headers=basic("alice"), json=payload)
    assert response.status_code == 200, response.text
    info = json.loads(response.json()["info"])
    assert info["all_prompts"] == ["a circle", "a square", "a triangle"]  # combinatorial: in file order
    assert info["all_seeds"] == [5, 6, 7]
    assert all('Template: a __kind__' in text for text in info["infotexts"])


def test_a_missing_wildcard_is_a_422_naming_it(client, services, tmp_path):
    services.processor.wildcards = WildcardFiles(tmp_path / "none")
    response = client.post("/sdapi/v1/txt2img", headers=basic("alice"), json={**PAYLOAD, "prompt": "a __nope__"})
    assert response.status_code == 422
    assert "__nope__" in response.text and "nope.txt" in response.text


def test_our_own_wildcards_field_turns_combinatorial_mode_on(client, services, tmp_path):
    (tmp_path / "wc").mkdir()
    (tmp_path / "wc" / "kind.txt").write_text("star\ncircle\n")
    services.processor.wildcards = WildcardFiles(tmp_path / "wc")
    payload = {**PAYLOAD, "alwayson_scripts": {"wildcards": {"combinatorial": True}}}
    response = client.post("/sdapi/v1/txt2img", headers=basic("alice"), json=payload)
    assert response.status_code == 200, response.text
    assert json.loads(response.json()["info"])["all_prompts"] == ["a star", "a circle", "a star"]
