"""The ADetailer accordion: form -> units, and PNG Info / History "Send to txt2img" restoring them."""

from __future__ import annotations

from dataclasses import fields
from types import SimpleNamespace

from modules.core.detailer import DetailerUnit, infotext_params
from modules.core.infotext import format_infotext
from modules.ui.detailer_panel import UNITS, DetailerPanel, updates_for_infotext


def panel() -> DetailerPanel:
    names = ["ad_enable"] + [f"ad_{n}_{f.name}" for n in range(UNITS) for f in fields(DetailerUnit)]
    return DetailerPanel({name: object() for name in names}, lambda: ["face_lbp"])


def services():
    return SimpleNamespace()


def form(enable: bool, *units: DetailerUnit) -> dict:
    values = {"ad_enable": enable}
    for n in range(UNITS):
        unit = units[n] if n < len(units) else DetailerUnit(model="None")
        values.update({f"ad_{n}_{f.name}": getattr(unit, f.name) for f in fields(DetailerUnit)})
    return values


def test_the_form_gives_the_units_turned_on_and_nothing_when_off():
    unit = DetailerUnit(prompt="detailed eyes", denoising_strength=0.35)
    assert panel().units_from(form(True, unit)) == (unit,)  # the second unit's model is "None": left out
    assert panel().units_from(form(False, unit)) == ()


def test_send_to_txt2img_restores_both_units_from_the_infotext():
    units = (DetailerUnit(prompt="a smile", use_steps=True, steps=9),
             DetailerUnit(model="face_lbp", mask_k_largest=1, dilate_erode=-4))
    text = format_infotext("a portrait", "", {"Steps": 20, **infotext_params(units)})
    p = panel()
    updates = updates_for_infotext(p, services(), text)
    values = {name: update["value"] for name, update in zip(p.components, updates)}
    assert values["ad_enable"] is True and p.units_from(values) == units


def test_a_picture_without_adetailer_turns_it_off_and_a_missing_model_is_left_off(monkeypatch):
    p = panel()
    updates = updates_for_infotext(p, services(), "a portrait\nSteps: 20, Seed: 1")
    assert updates[0]["value"] is False
    warned = []
    monkeypatch.setattr("gradio.Warning", lambda message: warned.append(message))
    text = format_infotext("x", "", infotext_params((DetailerUnit(model="face_yolov8n.pt"),)))
    updates = updates_for_infotext(p, services(), text)
    values = {name: update["value"] for name, update in zip(p.components, updates)}
    assert values["ad_0_model"] == "None" and "face_yolov8n.pt" in warned[0] and "face_lbp" in warned[0]


def test_the_adetailer_accordion_is_in_txt2img_and_img2img(tiny_models_dir, tmp_path):
    import torch

    from modules.engine.devices import DeviceConfig
    from modules.ui.app import build_ui
    from tests.api.conftest import make_services

    device = DeviceConfig(torch.device("cpu"), torch.float32, "tests")
    ui = build_ui(make_services(tiny_models_dir, tmp_path, device, per_user_outputs=False))
    blocks = {getattr(block, "elem_id", None): block for block in ui.blocks.values()}
    for tab in ("txt2img", "img2img"):
        assert blocks[f"{tab}_adetailer"].label == "ADetailer"
        assert blocks[f"{tab}_ad_enable"].value is False
        model = blocks[f"{tab}_ad_0_model"]
        assert model.value == "face_lbp" and ("face_lbp", "face_lbp") in model.choices
        assert blocks[f"{tab}_ad_1_model"].value == "None"
        assert blocks[f"{tab}_ad_0_denoising_strength"].value == 0.4
