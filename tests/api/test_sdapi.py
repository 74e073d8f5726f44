"""/sdapi/v1 as A1111 clients use it (Open WebUI, SillyTavern, bots), on tiny random checkpoints."""

from __future__ import annotations

import base64
import io
import json
import time

import pytest
from PIL import Image

from modules.core.infotext import read_image_infotext
from tests.api.conftest import basic

SMALL = {"width": 16, "height": 16, "steps": 2}
WAIT = 30.0


def decode(b64: str) -> Image.Image:
    assert not b64.startswith("data:"), "A1111 sends bare base64"
    image = Image.open(io.BytesIO(base64.b64decode(b64)))
    assert image.format == "PNG"
    return image


def txt2img(client, user: str, payload: dict):
    return client.post("/sdapi/v1/txt2img", headers=basic(user), json=payload)


def wait_until(predicate, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


# ---------------------------------------------------------------------------------------------- txt2img
def test_open_webui_payload(client, services):
    # Open WebUI's AUTOMATIC1111 engine sends exactly these keys.
    payload = {"prompt": "a red circle", "negative_prompt": "blue", "width": 16, "height": 16, "steps": 2,
               "cfg_scale": 7, "sampler_name": "Euler a", "seed": 1234, "n_iter": 1, "batch_size": 2}
    response = txt2img(client, "alice", payload)
    assert response.status_code == 200, response.text
    body = response.json()
    assert len(body["images"]) == 2
    info = json.loads(body["info"])
    assert info["seed"] == 1234 and info["all_seeds"] == [1234, 1235]
    assert info["subseed"] >= 0 and len(info["all_subseeds"]) == 2
    for b64, infotext, seed in zip(body["images"], info["infotexts"], info["all_seeds"]):
        image = decode(b64)
        assert image.size == (16, 16)
        assert read_image_infotext(image) == infotext  # info matches the PNG
        assert f"Seed: {seed}," in infotext and "Sampler: Euler a" in infotext
    assert body["parameters"]["prompt"] == "a red circle" and body["parameters"]["batch_size"] == 2
    assert body["parameters"]["steps"] == 2 and body["parameters"]["send_images"] is True
    # Saved to the caller's own folder, since accounts exist.
    saved = sorted(services.outputs.root.rglob("*.png"))
    assert len(saved) == 2 and all(p.relative_to(services.outputs.root).parts[0] == "alice" for p in saved)


def test_sillytavern_payload_with_scheduler_and_hires_fields(client):
    payload = {"prompt": "a green square", "negative_prompt": "", "sampler_name": "DPM++ 2M", "scheduler": "Karras",
               "steps": 2, "cfg_scale": 7, "width": 16, "height": 16, "restore_faces": False, "enable_hr": False,
               "hr_upscaler": "Latent", "hr_scale": 1.5, "hr_additional_modules": [], "denoising_strength": 0.7,
               "hr_second_pass_steps": 0, "seed": 7, "override_settings": {"CLIP_stop_at_last_layers": 1},
               "override_settings_restore_afterwards": True, "clip_skip": 1, "save_images": True,
               "send_images": True, "do_not_save_grid": False, "do_not_save_samples": False}
    response = txt2img(client, "alice", payload)
    assert response.status_code == 200, response.text
    info = json.loads(response.json()["info"])
    text = info["infotexts"][0]
    assert "Sampler: DPM++ 2M" in text and "Schedule type: Karras" in text and info["clip_skip"] == 1


def test_numbers_as_strings_floats_nulls_and_unknown_fields_are_accepted(client):
    payload = {"prompt": "a blue circle", "steps": "2", "width": 16.0, "height": "16", "cfg_scale": "5.5",
               "seed": "42", "batch_size": 1.0, "n_iter": "1", "subseed": None, "styles": None,
               "some_future_field": {"x": 1}, "sampler_index": "k_euler"}
    response = txt2img(client, "alice", payload)
    assert response.status_code == 200, response.text
    info = json.loads(response.json()["info"])
    assert info["seed"] == 42 and info["cfg_scale"] == 5.5 and info["sampler_name"] == "Euler"


@pytest.mark.parametrize(("sent", "sampler", "schedule"), [
    ("DPM++ 2M Karras", "DPM++ 2M", "Karras"),  # pre-1.9 name with the schedule folded in
    ("k_dpmpp_2m_ka", "DPM++ 2M", "Karras"),
    ("Euler a", "Euler a", "Automatic"),
])
def test_legacy_sampler_names(client, sent, sampler, schedule):
    response = txt2img(client, "alice", {**SMALL, "prompt": "x", "sampler_index": sent})
    assert response.status_code == 200, response.text
    info = json.loads(response.json()["info"])
    assert (info["sampler_name"], info["scheduler"]) == (sampler, schedule)


def test_unknown_scheduler_falls_back_to_automatic_with_a_warning(client):
    response = txt2img(client, "alice", {**SMALL, "sampler_name": "Euler a", "scheduler": "Karras"})
    assert response.status_code == 200, response.text
    info = json.loads(response.json()["info"])
    assert info["scheduler"] == "Automatic" and any("Karras" in w for w in info["warnings"])


@pytest.mark.parametrize(("payload", "status", "fragment"), [
    ({"width": 500}, 422, "multiple of 8"),
    ({"steps": "many"}, 422, "whole number"),
    ({"sampler_name": "No Such Sampler"}, 422, "Unknown sampler"),
    ({"override_settings": {"sd_model_checkpoint": "missing.safetensors"}}, 404, "not found"),
])
def test_bad_input_is_refused_with_a_message(client, payload, status, fragment):
    response = txt2img(client, "alice", {**SMALL, **payload})
    assert response.status_code == status, response.text
    assert fragment in response.text


def test_send_images_false_returns_no_images(client):
    response = txt2img(client, "alice", {**SMALL, "send_images": False, "seed": 3})
    assert response.status_code == 200 and response.json()["images"] in (None, [])
    assert json.loads(response.json()["info"])["seed"] == 3


def test_img2img_without_a_picture_is_refused(client):  # img2img itself: tests/api/test_sdapi_img2img.py
    response = client.post("/sdapi/v1/img2img", headers=basic("alice"), json={"init_images": []})
    assert response.status_code == 422 and "init_images" in response.json()["detail"]


# ---------------------------------------------------------------------------------------------- options, models
def test_options_are_per_user_and_pick_the_default_checkpoint(client):
    models = client.get("/sdapi/v1/sd-models", headers=basic("alice")).json()
    titles = {m["model_name"]: m["title"] for m in models}
    assert set(titles) == {"tiny-a", "tiny-b"}
    assert {"title", "model_name", "hash", "sha256", "filename", "config"} <= set(models[0])

    options = client.get("/sdapi/v1/options", headers=basic("bob")).json()
    assert options["sd_model_checkpoint"] == titles["tiny-a"]
    options["sd_model_checkpoint"] = titles["tiny-b"]
    # Clients post back the whole dict they got.
    assert client.post("/sdapi/v1/options", headers=basic("bob"), json=options).status_code == 200

    bob = json.loads(txt2img(client, "bob", {**SMALL, "prompt": "x"}).json()["info"])
    alice = json.loads(txt2img(client, "alice", {**SMALL, "prompt": "x"}).json()["info"])
    assert bob["sd_model_name"] == "tiny-b" and "Model: tiny-b" in bob["infotexts"][0]
    assert alice["sd_model_name"] == "tiny-a"  # Bob's choice did not change Alice's results
    models = {m["model_name"]: m["title"] for m in client.get("/sdapi/v1/sd-models", headers=basic("bob")).json()}
    assert client.get("/sdapi/v1/options", headers=basic("bob")).json()["sd_model_checkpoint"] == models["tiny-b"]
    assert client.get("/sdapi/v1/options", headers=basic("alice")).json()["sd_model_checkpoint"] == models["tiny-a"]
    # A title is "name [hash]" once the hash is known, and is accepted back as is.
    assert models["tiny-b"].startswith("tiny-b [")
    assert client.post("/sdapi/v1/options", headers=basic("alice"),
                       json={"sd_model_checkpoint": models["tiny-b"]}).status_code == 200


def test_override_settings_checkpoint_is_for_one_request(client):
    info = json.loads(txt2img(client, "alice", {**SMALL, "override_settings": {"sd_model_checkpoint": "tiny-b"}})
                      .json()["info"])
    assert info["sd_model_name"] == "tiny-b"
    assert client.get("/sdapi/v1/options", headers=basic("alice")).json()["sd_model_checkpoint"].startswith("tiny-a")


def test_options_refuse_an_unknown_checkpoint(client):
    response = client.post("/sdapi/v1/options", headers=basic("alice"), json={"sd_model_checkpoint": "nope"})
    assert response.status_code == 404 and "tiny-a" in response.json()["detail"]


def test_listings(client):
    samplers = client.get("/sdapi/v1/samplers", headers=basic("alice")).json()
    by_name = {s["name"]: s for s in samplers}
    assert "k_euler_a" in by_name["Euler a"]["aliases"] and by_name["DPM++ 2M"]["options"] == {"scheduler": "karras"}
    schedulers = client.get("/sdapi/v1/schedulers", headers=basic("alice")).json()
    assert {"name": "karras", "label": "Karras"}.items() <= schedulers[2].items()
    assert client.get("/sdapi/v1/sd-vae", headers=basic("alice")).json() == []
    assert [u["name"] for u in client.get("/sdapi/v1/upscalers", headers=basic("alice")).json()] == ["None", "Lanczos", "Nearest"]
    assert client.get("/sdapi/v1/loras", headers=basic("alice")).json() == []
    assert client.get("/sdapi/v1/embeddings", headers=basic("alice")).json() == {"loaded": {}, "skipped": {}}
    assert client.post("/sdapi/v1/refresh-checkpoints", headers=basic("alice")).status_code == 200
    assert client.post("/sdapi/v1/refresh-loras", headers=basic("alice")).status_code == 200


def test_png_info_reads_a_data_uri(client):
    infotext = "a cat\nNegative prompt: dog\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, Size: 512x512"
    from modules.core.infotext import pnginfo_for

    buffer = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, format="PNG", pnginfo=pnginfo_for(infotext, {"Software": "x"}))
    data = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
    body = client.post("/sdapi/v1/png-info", headers=basic("alice"), json={"image": data}).json()
    assert body["info"] == infotext
    assert body["parameters"]["Prompt"] == "a cat" and body["parameters"]["Negative prompt"] == "dog"
    assert body["parameters"]["Steps"] == "20" and body["items"] == {"Software": "x"}
    # Decoded by content: a JPEG behind a png prefix, and bare base64, work too.
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, format="JPEG")
    bare = base64.b64encode(buffer.getvalue()).decode()
    for image in (bare, "data:image/png;base64," + bare):
        assert client.post("/sdapi/v1/png-info", headers=basic("alice"), json={"image": image}).json()["info"] == ""
    bad = client.post("/sdapi/v1/png-info", headers=basic("alice"), json={"image": "bm90IGFuIGltYWdl"})
    assert bad.status_code == 422 and "picture" in bad.json()["detail"]


# ---------------------------------------------------------------------------------------------- queue, progress
def test_progress_interrupt_and_skip_act_on_the_callers_job_only(client, services, gate):
    submitted = client.post("/api/v1/jobs", headers=basic("alice"), json={**SMALL, "steps": 3})
    assert submitted.status_code == 202, submitted.text
    job = services.jobs.get(submitted.json()["id"])
    assert gate.started.wait(WAIT)

    alice = client.get("/sdapi/v1/progress", headers=basic("alice")).json()
    assert alice["state"]["job"] == f"job-{job.id}" and alice["state"]["sampling_steps"] == 3
    assert client.get("/sdapi/v1/progress", headers=basic("bob")).json()["state"]["job_count"] == 0

    # Bob's interrupt and skip (with an empty body, as clients send) do not touch Alice's job.
    assert client.post("/sdapi/v1/interrupt", headers=basic("bob")).status_code == 200
    assert client.post("/sdapi/v1/skip", headers=basic("bob"), content=b"").status_code == 200
    assert not job.control.interrupt.is_set() and not job.control.skip.is_set()

    assert client.post("/sdapi/v1/interrupt", headers=basic("alice")).json() == {}
    assert job.control.interrupt.is_set()
    assert services.jobs.wait(job, WAIT)


def test_progress_reports_steps_and_a_preview_while_running(client, services, monkeypatch):
    import threading

    hold = threading.Event()
    on_step = services.jobs._on_step

    def step_then_hold(job, info):  # the job pauses after its first preview, so the test sees it running
        on_step(job, info)
        if info.preview is not None:
            hold.wait(WAIT)

    monkeypatch.setattr(services.jobs, "_on_step", step_then_hold)
    submitted = client.post("/api/v1/jobs", headers=basic("alice"), json={**SMALL, "steps": 4})
    job = services.jobs.get(submitted.json()["id"])
    try:
        wait_until(lambda: job.preview is not None)
        progress = client.get("/sdapi/v1/progress", headers=basic("alice")).json()
        assert progress["state"]["sampling_step"] == 1 and progress["state"]["sampling_steps"] == 4
        assert progress["progress"] == 0.25 and progress["textinfo"] == "Step 1/4"
        assert decode(progress["current_image"]).size == job.preview.size
        assert client.get("/sdapi/v1/progress?skip_current_image=true",
                          headers=basic("alice")).json()["current_image"] is None
    finally:
        hold.set()
    assert services.jobs.wait(job, WAIT)


def test_full_queue_answers_429_with_retry_after(client, services, gate):
    services.jobs.per_user_limit = 1
    first = client.post("/api/v1/jobs", headers=basic("alice"), json=SMALL)
    assert gate.started.wait(WAIT)
    second = client.post("/api/v1/jobs", headers=basic("alice"), json=SMALL)  # waits in the queue
    assert (first.status_code, second.status_code) == (202, 202)
    third = txt2img(client, "alice", SMALL)
    assert third.status_code == 429 and int(third.headers["Retry-After"]) > 0
    assert "limit" in third.json()["detail"]
    # The limit is per user: Bob still gets in.
    assert client.post("/api/v1/jobs", headers=basic("bob"), json=SMALL).status_code == 202
    gate.release.set()


def test_without_accounts_the_api_is_open_and_outputs_go_to_one_folder(open_client):
    response = open_client.post("/sdapi/v1/txt2img", json={**SMALL, "prompt": "x"})
    assert response.status_code == 200, response.text
    services = open_client.app.state.services
    saved = list(services.outputs.root.rglob("*.png"))
    assert len(saved) == 1 and saved[0].relative_to(services.outputs.root).parts[0] == "txt2img-images"
