"""The Refiner accordion: form -> request fields, and PNG Info / History "Send to txt2img" restoring it."""

from __future__ import annotations

from types import SimpleNamespace

from modules.core.requests import GenerationRequest
from modules.core.validation import validate
from modules.ui.pnginfo import txt2img_values
from modules.ui.refiner_panel import DEFAULT_SWITCH_AT, NO_REFINER, RefinerPanel


def panel_and_data(checkpoint, switch_at=DEFAULT_SWITCH_AT):
    panel = RefinerPanel(object(), object())
    return panel, {panel.checkpoint: checkpoint, panel.switch_at: switch_at}


def test_none_adds_no_refiner_and_a_choice_passes_through():
    panel, data = panel_and_data(NO_REFINER, 0.3)
    assert panel.fields(data) == {}
    panel, data = panel_and_data("tiny-b [abc]", 0.3)
    assert panel.fields(data) == {"refiner_checkpoint": "tiny-b [abc]", "refiner_switch_at": 0.3}


def test_png_info_restores_the_refiner_and_the_request_is_the_same(manager):
    services = SimpleNamespace(models=manager, samplers=None)
    refiner = manager.checkpoints.ensure_hash(manager.resolve("tiny-b"))
    # A1111's form: "file stem [short hash]"; a checkpoint file's title has its extension, the stem still finds it.
    text = ("a red circle\nSteps: 6, Sampler: Euler, CFG scale: 5, Seed: 7, Size: 16x16, Model: tiny-a, "
            f"Refiner: tiny-b [{refiner.short_hash}], Refiner switch at: 0.3, Refiner switch by sampling steps: True")
    values, _ = txt2img_values(SimpleNamespace(resolve_with_schedule=lambda s, t=None: (SimpleNamespace(name=s),
                                                                                         "Automatic")), text)
    panel = RefinerPanel(object(), object())
    updates, note = panel.updates_from(services, values)
    assert note == ""
    assert updates[0]["value"] == refiner.title and updates[0]["value"] in updates[0]["choices"]
    assert updates[1]["value"] == 0.3
    fields = panel.fields({panel.checkpoint: updates[0]["value"], panel.switch_at: updates[1]["value"]})
    request = validate(GenerationRequest(prompt="a red circle", **fields))
    assert (request.refiner_checkpoint, request.refiner_switch_at) == (refiner.title, 0.3)


def test_an_infotext_without_a_refiner_sets_none_and_a_missing_one_is_named(manager):
    services = SimpleNamespace(models=manager)
    panel = RefinerPanel(object(), object())
    updates, note = panel.updates_from(services, {"prompt": "x"})
    assert updates[0]["value"] == NO_REFINER and note == ""
    updates, note = panel.updates_from(services, {"refiner_checkpoint": "gone [0123456789]",
                                                  "refiner_switch_at": 0.5})
    assert updates[0]["value"] == NO_REFINER and "gone" in note


def test_the_refiner_accordion_is_in_txt2img_and_img2img(tiny_models_dir, tmp_path):
    import torch

    from modules.engine.devices import DeviceConfig
    from modules.ui.app import build_ui
    from tests.api.conftest import make_services

    device = DeviceConfig(torch.device("cpu"), torch.float32, "tests")
    ui = build_ui(make_services(tiny_models_dir, tmp_path, device, per_user_outputs=False))
    blocks = {getattr(block, "elem_id", None): block for block in ui.blocks.values()}
    for tab in ("txt2img", "img2img"):
        assert blocks[f"{tab}_refiner"].label == "Refiner"
        dropdown = blocks[f"{tab}_refiner_checkpoint"]
        assert dropdown.value == NO_REFINER
        assert [choice[0] for choice in dropdown.choices][:1] == [NO_REFINER]
        assert any(choice[0].startswith("tiny-b") for choice in dropdown.choices)
        slider = blocks[f"{tab}_refiner_switch_at"]
        assert slider.value == DEFAULT_SWITCH_AT and 0 < slider.minimum and slider.maximum < 1
