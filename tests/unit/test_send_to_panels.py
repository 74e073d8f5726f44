"""PNG Info and History "Send to img2img / inpaint" restore a picture's soft inpainting, ADetailer and regions settings;
txt2img's own sends (which carry only its form) leave those panels as they are."""

from __future__ import annotations

from dataclasses import fields

from PIL import Image

from modules.core.detailer import DetailerUnit, infotext_params
from modules.core.infotext import format_infotext, parse_infotext
from modules.core.regions import Region
from modules.core.regions import to_infotext as regions_infotext
from modules.core.request_infotext import request_fields_from_infotext
from modules.core.soft_inpainting import SoftInpainting
from modules.core.soft_inpainting import infotext_params as soft_infotext
from modules.ui import soft_inpainting_panel
from modules.ui.detailer_panel import UNITS, DetailerPanel
from modules.ui.img2img import TXT2IMG_SETTINGS, Img2ImgTab, SendToImg2Img
from modules.ui.regions_panel import ROWS, RegionsPanel

SOFT = SoftInpainting(schedule_bias=2.0, preservation_strength=1.5)
UNIT = DetailerUnit(prompt="a smile", denoising_strength=0.3)
REGIONS = (Region("a red circle", 1.0, (0.0, 0.0, 0.5, 1.0)), Region("a blue square", 0.8, (0.5, 0.0, 1.0, 1.0)))


def tab() -> Img2ImgTab:
    names = ["ad_enable"] + [f"ad_{n}_{f.name}" for n in range(UNITS) for f in fields(DetailerUnit)]
    regions_names = ["rg_enable", "rg_source", *(f"rg_{n}_{f}" for n in range(ROWS) for f in ("prompt", "box", "weight")),
                     "rg_colour_map", "rg_colours"]
    components = {name: object() for name in ("subtabs", "tab", "init_img", "inpaint", "inpaint_options", "prompt",
                                              "negative_prompt", "sampler", "schedule_type", "steps", "cfg_scale",
                                              "width", "height", "checkpoint", "vae")}
    return Img2ImgTab(**components, soft={name: object() for name in soft_inpainting_panel.names()},
                      detailer=DetailerPanel({name: object() for name in names}, lambda: ["face_lbp"]),
                      regions=RegionsPanel({name: object() for name in regions_names}))


def values(params: dict) -> dict:
    parsed = parse_infotext(format_infotext("a portrait", "", {"Steps": 20, **params}))
    return request_fields_from_infotext(parsed.prompt, parsed.negative_prompt, parsed.params)


def by_component(sending: SendToImg2Img, updates: list) -> dict:
    assert len(updates) == len(sending.outputs())
    return dict(zip(map(id, sending.outputs()), updates))


def test_send_to_inpaint_restores_the_soft_inpainting_and_adetailer_settings():
    i2i = tab()
    sending = SendToImg2Img(i2i, object(), "inpaint")
    updates = by_component(sending, sending.updates(Image.new("RGB", (64, 64)),
                                                    values({**soft_infotext(SOFT), **infotext_params((UNIT,))})))
    assert updates[id(i2i.soft["soft_enabled"])]["value"] is True
    assert updates[id(i2i.soft["soft_schedule_bias"])]["value"] == 2.0
    assert updates[id(i2i.soft["soft_preservation_strength"])]["value"] == 1.5
    panel = i2i.detailer
    restored = {name: updates[id(c)]["value"] for name, c in panel.components.items()}
    assert restored["ad_enable"] is True and panel.units_from(restored) == (UNIT,)


def test_a_picture_without_them_turns_both_off():
    i2i = tab()
    sending = SendToImg2Img(i2i, object(), "img2img")
    updates = by_component(sending, sending.updates(Image.new("RGB", (64, 64)), values({})))
    assert updates[id(i2i.soft["soft_enabled"])]["value"] is False
    assert updates[id(i2i.detailer.components["ad_enable"])]["value"] is False
    assert updates[id(i2i.regions.components["rg_enable"])]["value"] is False


def test_send_to_img2img_restores_the_regions_a_picture_was_made_with():
    i2i = tab()
    sending = SendToImg2Img(i2i, object(), "img2img")
    updates = by_component(sending, sending.updates(Image.new("RGB", (64, 64)),
                                                    values({"Seed": 1, "Regions": regions_infotext(REGIONS)})))
    panel = i2i.regions
    restored = {name: updates[id(c)]["value"] for name, c in panel.components.items()}
    assert panel.regions_from(restored, 64, 64) == REGIONS


def test_txt2img_own_send_leaves_the_panels_alone():
    i2i = tab()
    sending = SendToImg2Img(i2i, object(), "inpaint", TXT2IMG_SETTINGS)
    assert not set(map(id, i2i.soft.values())) & set(map(id, sending.outputs()))
    assert not set(map(id, i2i.regions.ordered())) & set(map(id, sending.outputs()))
    assert len(sending.updates(Image.new("RGB", (64, 64)), {})) == len(sending.outputs())
