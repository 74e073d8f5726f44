"""The fast paths through the API: DeepCache as a payload field, A1111's sd_vae_decode_method as an option (refused
with the reason when the checkpoint has no tiny decoder), the admin's live preview method in /sdapi/v1/options, and
each job's memory policy and peak in /api/v1/jobs/{id}."""

from __future__ import annotations

import json
import time

from modules.core.infotext import parse_infotext


def _payload(**fields) -> dict:
    return {"prompt": "a red circle", "steps": 3, "width": 32, "height": 32, "seed": 7, "sampler_name": "Euler",
            **fields}


def test_deepcache_interval_in_a_txt2img_payload_reaches_the_infotext(open_client):
    body = open_client.post("/sdapi/v1/txt2img", json=_payload(deepcache_interval=2)).json()
    infotext = json.loads(body["info"])["infotexts"][0]
    assert parse_infotext(infotext).params["DeepCache interval"] == "2"


def test_a_deepcache_interval_out_of_range_is_refused_with_what_to_use(open_client):
    response = open_client.post("/sdapi/v1/txt2img", json=_payload(deepcache_interval=50))
    assert response.status_code == 422
    assert "from 2 to 10" in response.json()["detail"]


def test_decode_method_taesd_for_a_checkpoint_without_a_tiny_decoder_is_refused_before_queueing(open_client):
    response = open_client.post("/sdapi/v1/txt2img",
                                json=_payload(override_settings={"sd_vae_decode_method": "TAESD"}))
    assert response.status_code == 422
    assert "Choose Decode method Full" in response.json()["detail"]


def test_the_decode_method_is_a_per_user_option_and_the_preview_method_is_the_servers(open_client):
    options = open_client.get("/sdapi/v1/options").json()
    assert options["sd_vae_decode_method"] == "Full" and options["show_progress_type"] == "TAESD"
    assert open_client.post("/sdapi/v1/options", json={"sd_vae_decode_method": "TAESD"}).status_code == 200
    assert open_client.get("/sdapi/v1/options").json()["sd_vae_decode_method"] == "TAESD"
    refused = open_client.post("/sdapi/v1/options", json={"show_progress_type": "Approx NN"})
    assert refused.status_code == 422 and "admin" in refused.json()["detail"]


def test_a_jobs_details_show_its_memory_policy_and_peak(open_client):
    job = open_client.post("/api/v1/jobs", json=_payload()).json()
    for _ in range(600):
        state = open_client.get(f"/api/v1/jobs/{job['id']}").json()
        if state["status"] in ("done", "failed", "cancelled"):
            break
        time.sleep(0.1)
    assert state["status"] == "done", state
    assert state["memory"]["policy"] == "full" and state["memory"]["reason"].startswith("CPU")
    assert state["memory"]["peak_bytes"] > 0


def test_an_unknown_step_cache_in_a_payload_is_refused_with_the_choices(open_client):
    response = open_client.post("/sdapi/v1/txt2img", json=_payload(step_cache="TeaCache"))
    assert response.status_code == 422
    assert "FirstBlockCache, TaylorSeer, MagCache" in response.json()["detail"]
