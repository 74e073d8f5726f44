"""restore_faces and Extras' face restoration through the real app, with a tiny random RestoreFormer in
models/GFPGAN and the payload shapes A1111 clients send (restore_faces plus override_settings)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from tests.api.conftest import basic, make_accounts
from tests.api.test_extras_api import b64
from tests.api.test_sdapi import SMALL, decode
from tests.fixtures.faces import astronaut, save_tiny_restoreformer


@pytest.fixture
def api(tiny_models_dir, tmp_path, cpu_fp32):
    """models/ with tiny-a, a tiny RestoreFormer and a file with GFPGAN's keys (found, never loaded here)."""
    from fastapi.testclient import TestClient
    from safetensors.torch import save_file

    from modules.api.app import build_app
    from modules.core.settings import settings_from_args
    from modules.service.services import build_services

    models = tmp_path / "models"
    models.mkdir()
    (models / "Stable-diffusion").symlink_to(tiny_models_dir / "Stable-diffusion", target_is_directory=True)
    save_tiny_restoreformer(models / "GFPGAN")
    save_file({"toRGB.0.weight": torch.zeros(3, 2), "stylegan_decoder.style_mlp.1.weight": torch.zeros(2, 2)},
              str(models / "GFPGAN" / "GFPGANv1.4.safetensors"))
    settings = settings_from_args(["--models-dir", str(models), "--outputs-dir", str(tmp_path / "outputs"),
                                   "--settings-file", str(tmp_path / "settings.json")])
    services = build_services(settings, cpu_fp32, per_user_outputs=True)
    services.jobs.start()
    with TestClient(build_app(services, make_accounts())) as client:
        yield client, services, models
    services.jobs.stop()


def test_face_restorers_lists_those_whose_file_is_here(api):
    client, _, models = api
    answer = client.get("/sdapi/v1/face-restorers", headers=basic("alice")).json()
    assert answer == [{"name": "GFPGAN", "cmd_dir": str(models / "GFPGAN")},
                      {"name": "RestoreFormer", "cmd_dir": str(models / "GFPGAN")}]


def test_restore_faces_without_the_chosen_model_is_refused_naming_the_file(api):
    client, _, models = api
    response = client.post("/sdapi/v1/txt2img", headers=basic("alice"),
                           json={**SMALL, "prompt": "a face", "restore_faces": True})  # A1111's default: CodeFormer
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert "codeformer-v0.1.0.pth" in detail and str(models / "Codeformer") in detail


def test_img2img_restore_faces_restores_the_face_and_says_so_in_the_infotext(api):
    client, _, _ = api
    payload = {"init_images": [b64(astronaut())], "denoising_strength": 0, "width": 512, "height": 512,
               "steps": 2, "prompt": "an astronaut", "restore_faces": True,
               "override_settings": {"face_restoration_model": "RestoreFormer"}}
    response = client.post("/sdapi/v1/img2img", headers=basic("alice"), json=payload)
    assert response.status_code == 200, response.text
    info = json.loads(response.json()["info"])
    assert info["restore_faces"] is True and info["face_restoration_model"] == "RestoreFormer"
    assert "Face restoration: RestoreFormer" in info["infotexts"][0]
    before, after = np.asarray(astronaut()), np.asarray(decode(response.json()["images"][0]).convert("RGB"))
    assert np.array_equal(before[300:], after[300:])  # far from the face: exactly the input
    assert np.abs(before[100:140, 205:235].astype(int) - after[100:140, 205:235].astype(int)).mean() > 5


def test_txt2img_restore_faces_on_a_picture_without_a_face_says_so(api):
    client, services, _ = api
    services.user_settings.update("alice", {"face_restoration_model": "RestoreFormer"})  # the caller's option
    response = client.post("/sdapi/v1/txt2img", headers=basic("alice"),
                           json={**SMALL, "prompt": "a red circle", "restore_faces": True})
    assert response.status_code == 200, response.text
    info = json.loads(response.json()["info"])
    assert "Face restoration: RestoreFormer" in info["infotexts"][0]
    assert any("no face was found" in note for note in info["warnings"])


def test_restore_faces_off_writes_no_face_restoration_field(api):
    client, _, _ = api
    response = client.post("/sdapi/v1/txt2img", headers=basic("alice"),
                           json={**SMALL, "prompt": "a red circle", "restore_faces": False})
    info = json.loads(response.json()["info"])
    assert info["restore_faces"] is False and "Face restoration" not in info["infotexts"][0]


def test_extras_gfpgan_visibility_runs_gfpgan_and_writes_the_postprocessing_fields(api, monkeypatch):
    client, services, _ = api
    calls = []

    def restore(image, name, visibility=1.0, weight=0.5):
        calls.append((name, visibility))
        return image, []

    monkeypatch.setattr(services.faces, "restore", restore)  # the GFPGAN file here holds only GFPGAN's keys
    response = client.post("/sdapi/v1/extra-single-image", headers=basic("alice"),
                           json={"image": b64(astronaut()), "upscaler_1": "None", "gfpgan_visibility": 0.5})
    assert response.status_code == 200, response.text
    assert calls == [("GFPGAN", 0.5)]
    assert "GFPGAN visibility: 0.5" in response.json()["html_info"]


def test_extras_codeformer_without_its_file_is_refused_with_the_way_out(api):
    client, _, _ = api
    response = client.post("/sdapi/v1/extra-single-image", headers=basic("alice"),
                           json={"image": b64(astronaut()), "codeformer_visibility": 1, "codeformer_weight": 0.5})
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert "codeformer-v0.1.0.pth" in detail and "codeformer_visibility to 0" in detail
    bad = client.post("/sdapi/v1/extra-single-image", headers=basic("alice"),
                      json={"image": b64(astronaut()), "gfpgan_visibility": 2})
    assert bad.status_code == 422 and "between 0 and 1" in bad.json()["detail"]


def test_inpaint_with_restore_faces_keeps_every_pixel_outside_the_mask(api):
    """Restoration comes before the overlay, as in A1111: the face (outside the mask here) stays exactly as sent."""
    from PIL import Image, ImageDraw

    client, _, _ = api
    mask = Image.new("L", (512, 512), 0)
    ImageDraw.Draw(mask).rectangle((360, 360, 511, 511), fill=255)  # a corner, away from the face
    payload = {"init_images": [b64(astronaut())], "mask": b64(mask), "mask_blur": 0, "denoising_strength": 0.6,
               "width": 512, "height": 512, "steps": 2, "prompt": "an astronaut", "restore_faces": True,
               "override_settings": {"face_restoration_model": "RestoreFormer"}}
    response = client.post("/sdapi/v1/img2img", headers=basic("alice"), json=payload)
    assert response.status_code == 200, response.text
    assert "Face restoration: RestoreFormer" in json.loads(response.json()["info"])["infotexts"][0]
    before = np.asarray(astronaut())
    after = np.asarray(decode(response.json()["images"][0]).convert("RGB"))
    assert np.array_equal(before[:350], after[:350])  # the face included
    assert not np.array_equal(before[380:, 380:], after[380:, 380:])  # the masked corner was repainted
