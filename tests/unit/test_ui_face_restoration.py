"""The UI's face restoration: where its controls are, and whose restorer a UI job uses."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from modules.core.requests import GenerationRequest
from modules.ui.face_restoration import with_settings


class Store(dict):
    def get(self, key, default=None):  # SettingsStore's and UserSettingsStore's shapes
        return super().get(key, default)


def services_with(server: dict, users: dict) -> SimpleNamespace:
    return SimpleNamespace(ui_settings=Store(server), user_settings=SimpleNamespace(get=lambda u: users.get(u, {})))


def test_a_ui_job_uses_the_users_restorer_else_the_servers():
    services = services_with({"face_restoration_model": "GFPGAN", "code_former_weight": 0.5},
                             {"bob": {"face_restoration_model": "CodeFormer", "code_former_weight": 0.2}})
    on = GenerationRequest(restore_faces=True)
    assert with_settings(services, on, "bob").face_restorer == "CodeFormer"
    assert with_settings(services, on, "bob").codeformer_weight == 0.2
    assert with_settings(services, on, "alice").face_restorer == "GFPGAN"
    off = GenerationRequest(face_restorer="x")
    assert with_settings(services, off, "bob") is off


@pytest.fixture(scope="module")
def ui(tiny_models_dir, tmp_path_factory):
    import torch

    from modules.engine.devices import DeviceConfig
    from modules.ui.app import build_ui
    from tests.api.conftest import make_services

    device = DeviceConfig(torch.device("cpu"), torch.float32, "tests")
    services = make_services(tiny_models_dir, tmp_path_factory.mktemp("faces-ui"), device, per_user_outputs=False)
    return build_ui(services)


def test_the_controls_are_where_a1111_users_look(ui):
    ids = {getattr(block, "elem_id", None) for block in ui.blocks.values()}
    for elem_id in ("txt2img_restore_faces", "img2img_restore_faces", "extras_gfpgan_visibility",
                    "extras_codeformer_visibility", "extras_codeformer_weight", "settings_face_restoration_model",
                    "settings_code_former_weight"):
        assert elem_id in ids, elem_id


def test_send_to_txt2img_checks_restore_faces_when_the_picture_had_it(samplers):
    from modules.ui.pnginfo import TXT2IMG_TARGETS, txt2img_updates

    services = SimpleNamespace(samplers=samplers, models=SimpleNamespace(checkpoints=None))
    with_faces = "a portrait\nSteps: 20, Sampler: Euler a, Seed: 1, Face restoration: CodeFormer, Size: 512x512"
    updates, _ = txt2img_updates(services, with_faces)
    assert updates[TXT2IMG_TARGETS.index("restore_faces")]["value"] is True
    updates, _ = txt2img_updates(services, "a portrait\nSteps: 20, Sampler: Euler a, Seed: 1, Size: 512x512")
    assert "value" not in updates[TXT2IMG_TARGETS.index("restore_faces")]  # left as the user set it
