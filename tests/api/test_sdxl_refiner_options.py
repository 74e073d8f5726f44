"""A1111's SDXL refiner aesthetic-score options: stored per user through /sdapi/v1/options, checked, and turned
into the request fields the refiner reads (the job's `override_settings` over the user's own values)."""

from __future__ import annotations

from modules.api.a1111_options import OPTIONS, request_fields
from tests.api.conftest import basic

HIGH, LOW = "sdxl_refiner_high_aesthetic_score", "sdxl_refiner_low_aesthetic_score"


def test_the_aesthetic_scores_are_per_user_options_that_reach_the_request(client):
    response = client.post("/sdapi/v1/options", headers=basic("alice"), json={HIGH: 7.5, LOW: 1})
    assert response.status_code == 200, response.text
    alice = client.get("/sdapi/v1/options", headers=basic("alice")).json()
    bob = client.get("/sdapi/v1/options", headers=basic("bob")).json()
    assert (alice[HIGH], alice[LOW]) == (7.5, 1.0) and (bob[HIGH], bob[LOW]) == (6.0, 2.5)  # A1111's defaults
    warnings: list[str] = []
    fields = request_fields({HIGH: 7.5, LOW: 1.0}, {LOW: 0.5}, lambda key: OPTIONS[key].in_force, warnings)
    assert fields == {"aesthetic_score": 7.5, "negative_aesthetic_score": 0.5} and warnings == []


def test_an_aesthetic_score_out_of_range_is_refused_naming_the_option(client):
    response = client.post("/sdapi/v1/options", headers=basic("alice"), json={HIGH: 11})
    assert response.status_code == 422 and HIGH in response.json()["detail"]
    assert client.get("/sdapi/v1/options", headers=basic("alice")).json()[HIGH] == 6.0
