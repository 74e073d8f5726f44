"""The "VAE / Text encoder" multiselect beside the checkpoint: the files that fit a Flux transformer file are
pre-selected, a missing one is named, the choice reaches the request, and "Send to txt2img" restores it."""

from __future__ import annotations

import pytest
import torch

from tests.api.conftest import make_services


@pytest.fixture(scope="module")
def flux_services(tmp_path_factory):
    from modules.engine.devices import DeviceConfig
    from tests.fixtures.tiny_flow import save_tiny_flux
    from training.export_flux import export_single_files

    root = tmp_path_factory.mktemp("ui-flux-models")
    folder = save_tiny_flux(root / "Stable-diffusion" / "tiny-flux", guidance=True)
    export_single_files(folder, root, "tiny-flux-bfl")
    return make_services(root, tmp_path_factory.mktemp("ui-flux"), DeviceConfig(torch.device("cpu"), torch.float32,
                                                                                 "tests"), per_user_outputs=False)


NAMES = ["tiny-flux-bfl-clip.safetensors", "tiny-flux-bfl-t5.safetensors", "tiny-flux-bfl-ae.safetensors"]


def test_a_flux_file_preselects_the_files_that_fit_and_a_folder_none(flux_services):
    from modules.ui.modules_select import preselected

    assert preselected(flux_services, "tiny-flux-bfl.safetensors") == (NAMES, "")
    assert preselected(flux_services, "tiny-flux") == ([], "")
    # A choice that fits is kept (a picture's files sent to txt2img); one that does not is replaced.
    assert preselected(flux_services, "tiny-flux-bfl.safetensors", NAMES[::-1]) == (NAMES[::-1], "")


def test_a_missing_file_is_named_where_the_choice_is_made(flux_services):
    from modules.ui.modules_select import preselected

    models = flux_services.models
    kept = models.modules
    models.modules = [m for m in kept if m.role != "t5"]
    try:
        chosen, problem = preselected(flux_services, "tiny-flux-bfl.safetensors")
    finally:
        models.modules = kept
    assert chosen == [] and "needs a T5-XXL text encoder" in problem and "models/text_encoder" in problem


def test_the_multiselect_sits_beside_the_checkpoint_and_its_choice_reaches_the_request(flux_services):
    from modules.ui.app import build_ui
    from modules.ui.txt2img import request_from_form

    ui = build_ui(flux_services)
    blocks = {getattr(block, "elem_id", None): block for block in ui.blocks.values()}
    select = blocks["txt2img_modules"]
    assert select.label == "VAE / Text encoder" and select.multiselect
    assert sorted(c[0] for c in select.choices) == sorted(NAMES)
    values = {"prompt": "a", "negative_prompt": "", "sampler": "Euler", "schedule_type": "Automatic", "steps": 2,
              "cfg_scale": 1.0, "width": 32, "height": 32, "seed": 1, "subseed": -1, "subseed_strength": 0,
              "batch_count": 1, "batch_size": 1, "clip_skip": 1, "checkpoint": "tiny-flux-bfl.safetensors",
              "vae": "Automatic", "additional_modules": NAMES[:2]}
    assert request_from_form(values).additional_modules == tuple(NAMES[:2])
    img2img_select = blocks["img2img_modules"]  # img2img has the same choice beside its checkpoint
    assert img2img_select.label == "VAE / Text encoder" and img2img_select.value == select.value
    from PIL import Image

    from modules.ui.img2img import request_from_form as img2img_request

    form = {**values, "init_img": Image.new("RGB", (32, 32)), "additional_modules": NAMES[2:]}
    assert img2img_request("img2img", form).additional_modules == tuple(NAMES[2:])


def test_send_to_txt2img_restores_the_files_a_picture_was_made_with(flux_services):
    from modules.ui.pnginfo import TXT2IMG_TARGETS, txt2img_updates

    text = ("a red circle\nSteps: 2, Sampler: Euler, Seed: 7, Size: 32x32, Model: tiny-flux-bfl, "
            "Module 1: tiny-flux-bfl-clip.safetensors, Module 2: tiny-flux-bfl-t5, Module 3: gone-ae.safetensors")
    updates, note = txt2img_updates(flux_services, text, modules=True)
    restored = updates[len(TXT2IMG_TARGETS) + 1]  # right after the checkpoint
    assert restored["value"] == ["tiny-flux-bfl-clip.safetensors", "tiny-flux-bfl-t5.safetensors"]
    assert "gone-ae.safetensors are not here" in note
    plain, _ = txt2img_updates(flux_services, "a cat\nSteps: 2, Sampler: Euler, Seed: 7, Size: 32x32", modules=True)
    assert plain[len(TXT2IMG_TARGETS) + 1]["value"] == []
