"""/sdapi/v1/options as A1111 clients use it: every A1111 1.10 key with its type, per-user storage, clear refusals,
and the options that change generation taking effect for that user's jobs only."""

from __future__ import annotations

import base64
import io
import json

import numpy as np
from PIL import Image
from skimage import color

from modules.api.a1111_options import EFFECT, FIXED, OPTIONS, STORED
from modules.core.infotext import read_image_infotext
from tests.api.conftest import basic

SMALL = {"width": 16, "height": 16, "steps": 3, "seed": 11, "prompt": "a red circle"}


def get(client, user: str) -> dict:
    response = client.get("/sdapi/v1/options", headers=basic(user))
    assert response.status_code == 200, response.text
    return response.json()


def post(client, user: str, body: dict):
    return client.post("/sdapi/v1/options", headers=basic(user), json=body)


def pixels(b64: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(b64))).convert("RGB"), dtype=np.int16)


def generate(client, user: str, payload: dict, route: str = "txt2img") -> tuple[np.ndarray, str]:
    response = client.post(f"/sdapi/v1/{route}", headers=basic(user), json=payload)
    assert response.status_code == 200, response.text
    body = response.json()
    image = Image.open(io.BytesIO(base64.b64decode(body["images"][0])))
    return pixels(body["images"][0]), read_image_infotext(image) or ""


# ---------------------------------------------------------------------------------------------- the table
def test_get_returns_every_a1111_option_with_its_type(client):
    options = get(client, "alice")
    assert set(OPTIONS) <= set(options) and len(options) >= 300
    # What clients read (Krita, Photoshop plugins, bots), with A1111's types and defaults.
    expected = {"send_seed": True, "send_size": True, "img2img_color_correction": False, "img2img_fix_steps": False,
                "inpainting_mask_weight": 1.0, "eta_noise_seed_delta": 0, "eta_ddim": 0.0, "eta_ancestral": 1.0,
                "CLIP_stop_at_last_layers": 1, "samples_format": "png", "sd_vae": "Automatic", "jpeg_quality": 80,
                "quicksettings_list": ["sd_model_checkpoint"], "face_restoration": False,
                "face_restoration_model": "CodeFormer", "randn_source": "CPU", "show_progress_every_n_steps": 1}
    for key, value in expected.items():
        assert options[key] == value and type(options[key]) is type(value), (key, options[key])
    assert options["sd_model_checkpoint"].startswith("tiny-a")
    kinds = {option.kind for option in OPTIONS.values()}
    assert {EFFECT, STORED, FIXED} <= kinds


def test_post_stores_per_user_and_a_later_get_returns_it(client):
    changes = {"send_seed": False, "eta_noise_seed_delta": 31337, "img2img_color_correction": True,
               "gradio_theme": "dark", "quicksettings_list": ["sd_model_checkpoint", "sd_vae"], "eta_ddim": 0.25,
               "face_restoration": True}
    assert post(client, "alice", changes).status_code == 200
    alice, bob = get(client, "alice"), get(client, "bob")
    assert {key: alice[key] for key in changes} == changes
    # Alice's POST does not change Bob's options (A1111 has one global set; this server has one per user).
    assert {key: bob[key] for key in changes} == {key: OPTIONS[key].default for key in changes}


def test_numbers_may_come_as_strings_and_are_stored_as_numbers(client):
    assert post(client, "alice", {"eta_noise_seed_delta": "31337", "inpainting_mask_weight": "0.5"}).status_code == 200
    options = get(client, "alice")
    assert options["eta_noise_seed_delta"] == 31337 and options["inpainting_mask_weight"] == 0.5


def test_a_wrong_type_is_a_422_naming_the_option_and_nothing_is_stored(client):
    for body, words in [({"send_seed": "yes"}, "send_seed must be true or false"),
                        ({"eta_noise_seed_delta": 1.5}, "whole number"),
                        ({"quicksettings_list": "sd_vae"}, "list of strings"),
                        ({"gradio_theme": 3}, "must be a string"),
                        ({"inpainting_mask_weight": 2}, "from 0 to 1"),
                        ({"send_seed": None}, "cannot be null")]:
        response = post(client, "alice", body)
        assert response.status_code == 422 and words in response.json()["detail"], (body, response.text)
    # One bad key refuses the whole POST: the good one beside it is not stored either.
    response = post(client, "alice", {"send_size": False, "send_seed": "no"})
    assert response.status_code == 422
    assert get(client, "alice")["send_size"] is True


def test_an_unknown_option_is_refused_with_its_name(client):
    response = post(client, "alice", {"eta_noise_seed_detla": 1})
    assert response.status_code == 422
    assert "eta_noise_seed_detla" in response.json()["detail"] and "GET /sdapi/v1/options" in response.json()["detail"]
    assert "eta_noise_seed_detla" not in get(client, "alice")


def test_a_fixed_option_accepts_its_value_and_refuses_another_with_the_reason(client):
    assert post(client, "alice", {"samples_format": "png", "randn_source": "CPU"}).status_code == 200
    for body, words in [({"samples_format": "jpg"}, "admin"), ({"eta_ancestral": 0.5}, "eta 1"),
                        ({"randn_source": "GPU"}, "CPU"), ({"token_merging_ratio": 0.5}, "not support")]:
        response = post(client, "alice", body)
        assert response.status_code == 422, body
        detail = response.json()["detail"]
        assert list(body)[0] in detail and words in detail, detail


def test_the_whole_dict_read_can_be_posted_back(client):
    options = get(client, "alice")
    options["send_seed"] = False
    assert post(client, "alice", options).status_code == 200
    assert get(client, "alice")["send_seed"] is False


# ---------------------------------------------------------------------------------------------- generation
def test_eta_noise_seed_delta_changes_an_ancestral_sampler_for_that_user_only(client):
    payload = {**SMALL, "sampler_name": "Euler a"}
    before, info = generate(client, "alice", payload)
    assert "ENSD" not in info
    assert post(client, "alice", {"eta_noise_seed_delta": 31337}).status_code == 200
    after, info = generate(client, "alice", payload)
    assert np.abs(after - before).max() > 0 and "ENSD: 31337" in info
    bob, bob_info = generate(client, "bob", payload)
    assert np.array_equal(bob, before) and "ENSD" not in bob_info
    # override_settings gives one request the same effect (A1111 clients send it there too).
    once, _ = generate(client, "bob", {**payload, "override_settings": {"eta_noise_seed_delta": 31337}})
    assert np.array_equal(once, after)
    # A pasted infotext carries it too (A1111 turns its "ENSD" into override_settings).
    pasted, pasted_info = generate(client, "bob", {**payload, "infotext": f"x\n{info}"})
    assert np.array_equal(pasted, after) and "ENSD: 31337" in pasted_info
    # A sampler that adds no noise of its own is not changed by it, and its infotext does not claim it.
    plain = {**SMALL, "sampler_name": "Euler"}
    euler_alice, euler_info = generate(client, "alice", plain)
    euler_bob, _ = generate(client, "bob", plain)
    assert np.array_equal(euler_alice, euler_bob) and "ENSD" not in euler_info


def test_override_settings_are_checked_like_a_post(client):
    response = client.post("/sdapi/v1/txt2img", headers=basic("alice"),
                           json={**SMALL, "override_settings": {"eta_noise_seed_delta": "lots"}})
    assert response.status_code == 422 and "eta_noise_seed_delta" in response.json()["detail"]
    response = client.post("/sdapi/v1/txt2img", headers=basic("alice"),
                           json={**SMALL, "override_settings": {"samples_format": "webp"}})
    assert response.status_code == 422 and "samples_format" in response.json()["detail"]
    response = client.post("/sdapi/v1/txt2img", headers=basic("alice"),
                           json={**SMALL, "override_settings": {"some_extension_setting": 1}})
    assert response.status_code == 200
    assert "some_extension_setting" in " ".join(json.loads(response.json()["info"])["warnings"])


def test_eta_ddim_changes_ddim_and_is_written_as_a1111_does(client):
    payload = {**SMALL, "sampler_name": "DDIM"}
    before, info = generate(client, "alice", payload)
    assert post(client, "alice", {"eta_ddim": 0.8}).status_code == 200
    after, info = generate(client, "alice", payload)
    assert np.abs(after - before).max() > 0 and "Eta DDIM: 0.8" in info
    # A payload's own eta is DDIM's eta for that job.
    same, _ = generate(client, "bob", {**payload, "eta": 0.8})
    assert np.array_equal(same, after)


def _init_picture() -> tuple[Image.Image, str]:
    rng = np.random.default_rng(3)
    base = np.zeros((32, 32, 3), dtype=np.uint8)
    base[..., 0] = 40 + rng.integers(0, 30, (32, 32))  # a dark teal picture: far from the tiny model's colours
    base[..., 1] = 150 + rng.integers(0, 60, (32, 32))
    base[..., 2] = 160 + rng.integers(0, 60, (32, 32))
    image = Image.fromarray(base)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return image, base64.b64encode(buffer.getvalue()).decode()


def _colour_distance(result: np.ndarray, reference: Image.Image) -> float:
    ours = color.rgb2lab(result.astype(np.uint8))[..., 1:].reshape(-1, 2).mean(0)
    theirs = color.rgb2lab(np.asarray(reference))[..., 1:].reshape(-1, 2).mean(0)
    return float(np.linalg.norm(ours - theirs))


def test_img2img_colour_correction_brings_the_colours_toward_the_input(client):
    init, data = _init_picture()
    payload = {"init_images": [data], "denoising_strength": 0.9, "steps": 3, "width": 32, "height": 32, "seed": 4,
               "prompt": "a red circle"}
    plain, _ = generate(client, "alice", payload, "img2img")
    assert post(client, "alice", {"img2img_color_correction": True}).status_code == 200
    corrected, _ = generate(client, "alice", payload, "img2img")
    assert _colour_distance(corrected, init) < _colour_distance(plain, init) * 0.5
    bob, _ = generate(client, "bob", payload, "img2img")
    assert np.array_equal(bob, plain)


def test_img2img_fix_steps_runs_every_step_of_the_slider(client, services):
    init, data = _init_picture()
    payload = {"init_images": [data], "denoising_strength": 0.5, "steps": 4, "width": 32, "height": 32, "seed": 4}
    seen: list[int] = []
    runner = services.jobs._runner

    def counting(request, control, owner):
        inner = control.on_step

        def on_step(info):
            seen.append(info.steps)
            if inner is not None:
                inner(info)
        control.on_step = on_step
        return runner(request, control, owner)

    services.jobs._runner = counting
    plain, _ = generate(client, "alice", payload, "img2img")
    assert set(seen) == {2}  # A1111's default: denoising 0.5 of 4 steps runs 2
    seen.clear()
    assert post(client, "alice", {"img2img_fix_steps": True}).status_code == 200
    fixed, _ = generate(client, "alice", payload, "img2img")
    assert set(seen) == {4} and len(seen) == 4 and np.abs(fixed - plain).max() > 0


def test_the_servers_settings_are_the_default_and_fixed_ones_stay_the_admins(client, services):
    services.ui_settings.values.update(face_restoration_model="GFPGAN", ESRGAN_tile=256)
    options = get(client, "alice")
    assert options["face_restoration_model"] == "GFPGAN" and options["ESRGAN_tile"] == 256
    response = post(client, "alice", {"ESRGAN_tile": 128})
    assert response.status_code == 422 and "admin" in response.json()["detail"]
    assert post(client, "alice", {"face_restoration_model": "CodeFormer"}).status_code == 200
    assert get(client, "alice")["face_restoration_model"] == "CodeFormer"
    assert get(client, "bob")["face_restoration_model"] == "GFPGAN"


def test_sampler_parameters_a_payload_sends_are_not_silently_dropped(client):
    response = client.post("/sdapi/v1/txt2img", headers=basic("alice"),
                           json={**SMALL, "steps": 1, "s_churn": 0.5, "s_noise": 1, "s_tmax": 0})
    assert response.status_code == 200
    warnings = " ".join(json.loads(response.json()["info"])["warnings"])
    assert "s_churn is not supported" in warnings and "s_noise" not in warnings and "s_tmax" not in warnings


def test_eta_ddim_acts_in_a_ddim_hires_pass_too(client):
    payload = {**SMALL, "steps": 2, "sampler_name": "Euler", "enable_hr": True, "hr_scale": 2,
               "hr_upscaler": "Latent", "hr_sampler_name": "DDIM", "denoising_strength": 0.7}
    plain, _ = generate(client, "alice", payload)
    assert post(client, "alice", {"eta_ddim": 0.9}).status_code == 200
    noisy, _ = generate(client, "alice", payload)
    assert plain.shape == noisy.shape == (32, 32, 3) and np.abs(noisy - plain).max() > 0
