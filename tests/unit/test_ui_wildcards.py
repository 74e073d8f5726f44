"""The dynamic prompts switch of txt2img and img2img: Random, Combinatorial or Off, as the service reads it."""

from __future__ import annotations

import pytest

from modules.core.requests import GenerationRequest
from modules.service.wildcards import Options, options_of
from modules.ui.wildcards_panel import FIELD, extra_from


@pytest.mark.parametrize("mode, options", [("Random", Options(True, False)), ("Combinatorial", Options(True, True)),
                                           ("Off", Options(False, False))])
def test_each_mode_reaches_the_service_as_its_options(mode, options):
    request = GenerationRequest(prompt="{a|b}", extra=extra_from({FIELD: mode}))
    assert options_of(request) == options


def test_a_form_without_the_switch_adds_nothing():
    assert extra_from({}) == {}


def test_the_switch_is_in_txt2img_and_img2img(tiny_models_dir, tmp_path):
    import torch

    from modules.engine.devices import DeviceConfig
    from modules.ui.app import build_ui
    from tests.api.conftest import make_services

    device = DeviceConfig(torch.device("cpu"), torch.float32, "tests")
    ui = build_ui(make_services(tiny_models_dir, tmp_path, device, per_user_outputs=False))
    blocks = {getattr(block, "elem_id", None): block for block in ui.blocks.values()}
    for tab in ("txt2img", "img2img"):
        radio = blocks[f"{tab}_wildcards_mode"]
        assert radio.value == "Random" and [c[0] for c in radio.choices] == ["Random", "Combinatorial", "Off"]
