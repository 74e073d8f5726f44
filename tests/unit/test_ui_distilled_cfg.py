"""The UI's "Distilled CFG Scale" slider (Forge's control for Flux dev, Kontext and Fill): what it puts in the
request, and PNG Info's "Send to txt2img" filling it from a Flux picture's parameters."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from modules.engine.samplers import SamplerRegistry
from modules.ui.pnginfo import TXT2IMG_TARGETS, txt2img_updates
from modules.ui.txt2img import request_from_form

FORM = {"prompt": "a red circle", "negative_prompt": "", "sampler": "Euler", "schedule_type": "Automatic",
        "steps": 4, "cfg_scale": 1.0, "width": 64, "height": 64, "seed": 3, "subseed": -1, "subseed_strength": 0,
        "batch_count": 1, "batch_size": 1, "clip_skip": 1, "checkpoint": None, "vae": "Automatic"}


@pytest.mark.parametrize("slider, sent", [(6.5, 6.5), (0.0, 0.0), (3.5, None)])
def test_the_slider_value_goes_into_the_request_and_its_default_leaves_the_models_own(slider, sent):
    assert request_from_form({**FORM, "distilled_cfg_scale": slider}).distilled_cfg_scale == sent


def test_an_img2img_form_carries_the_slider_value_too():
    from PIL import Image

    from modules.ui.img2img import request_from_form as img2img_request

    form = {**FORM, "init_img": Image.new("RGB", (64, 64)), "distilled_cfg_scale": 7.0}
    assert img2img_request("img2img", form).distilled_cfg_scale == 7.0


def test_send_to_txt2img_fills_the_slider_from_a_flux_pictures_parameters():
    services = SimpleNamespace(samplers=SamplerRegistry.default(),
                               models=SimpleNamespace(checkpoints=SimpleNamespace(find=lambda q: None)))
    text = "a red circle\nSteps: 20, Sampler: Euler, CFG scale: 1, Distilled CFG Scale: 6.5, Seed: 3, Size: 64x64"
    updates, _ = txt2img_updates(services, text)
    assert updates[TXT2IMG_TARGETS.index("distilled_cfg_scale")]["value"] == 6.5
    sd_text = "a red circle\nSteps: 20, Sampler: Euler, CFG scale: 7, Seed: 3, Size: 64x64"
    updates, _ = txt2img_updates(services, sd_text)
    assert "value" not in updates[TXT2IMG_TARGETS.index("distilled_cfg_scale")]  # left as the user set it
