"""The Regions accordion: rows and colour maps -> regions, errors shown to the user, and "Send to txt2img"
restoring the regions a picture was made with (boxes as rows, masks as a colour map that gives the same cells)."""

from __future__ import annotations

import gradio as gr
import pytest
from PIL import Image, ImageDraw

from modules.core.regions import Region, encode_mask, grid_for
from modules.ui.regions_panel import BOXES, COLOUR_MAP, ROWS, RegionsPanel, colour_lines_for


def panel() -> RegionsPanel:
    names = ["rg_enable", "rg_source"] + [f"rg_{n}_{f}" for n in range(ROWS) for f in ("prompt", "box", "weight")]
    return RegionsPanel({name: object() for name in [*names, "rg_colour_map", "rg_colours"]})


def values_of(updates: list, p: RegionsPanel) -> dict:
    return {name: update["value"] for name, update in zip(p.components, updates)}


def test_rows_with_a_prompt_become_regions_and_empty_rows_are_skipped():
    values = {"rg_enable": True, "rg_source": BOXES, "rg_0_prompt": "a red circle", "rg_0_box": "0, 0, 0.5, 1",
              "rg_0_weight": 1.0, "rg_1_prompt": "", "rg_1_box": "0.5, 0, 1, 1", "rg_1_weight": 1.0,
              "rg_2_prompt": "a blue circle <lora:x:0.5>", "rg_2_box": "0.5; 0; 1; 1", "rg_2_weight": 0.6}
    assert panel().regions_from(values, 64, 32) == (Region("a red circle", 1.0, (0.0, 0.0, 0.5, 1.0)),
                                                    Region("a blue circle <lora:x:0.5>", 0.6, (0.5, 0.0, 1.0, 1.0)))
    assert panel().regions_from({**values, "rg_enable": False}, 64, 32) == ()


def test_a_bad_box_or_no_prompt_is_shown_to_the_user():
    with pytest.raises(gr.Error, match="four numbers"):
        panel().regions_from({"rg_enable": True, "rg_0_prompt": "x", "rg_0_box": "left half", "rg_0_weight": 1}, 64, 64)
    with pytest.raises(gr.Error, match="none has a prompt"):
        panel().regions_from({"rg_enable": True, "rg_source": BOXES}, 64, 64)


def test_a_colour_map_lists_its_colours_and_each_prompted_colour_is_a_region():
    picture = Image.new("RGB", (64, 32), (255, 255, 255))
    ImageDraw.Draw(picture).rectangle((0, 0, 31, 31), fill=(255, 0, 0))
    lines = colour_lines_for(picture)
    assert lines.splitlines() == ["#ffffff | ", "#ff0000 | "]
    values = {"rg_enable": True, "rg_source": COLOUR_MAP, "rg_colour_map": picture,
              "rg_colours": "#ffffff | \n#ff0000 | 0.7 | a red circle"}
    (region,) = panel().regions_from(values, 64, 32)
    assert region.prompt == "a red circle" and region.weight == 0.7
    assert region.mask == encode_mask(Image.new("L", (32, 32), 255).crop((0, 0, 64, 32)), grid_for(64, 32))


def test_send_to_txt2img_restores_boxes_as_rows_and_masks_as_a_colour_map():
    p = panel()
    boxes = (Region("a red circle", 1.0, (0, 0, 0.5, 1)), Region("a blue circle", 0.8, (0.5, 0, 1, 1)))
    restored = values_of(p.updates_from({"regions": boxes}, 64, 32), p)
    assert restored["rg_enable"] and restored["rg_source"] == BOXES
    assert p.regions_from(restored, 64, 32) == boxes
    mask = Image.new("L", (64, 32), 0)
    ImageDraw.Draw(mask).ellipse((4, 4, 28, 28), fill=255)  # not under the box: a map has one colour a cell
    masked = (Region("a star", 0.5, None, encode_mask(mask, grid_for(64, 32))), boxes[1])
    restored = values_of(p.updates_from({"regions": masked}, 64, 32), p)
    assert restored["rg_source"] == COLOUR_MAP
    assert p.regions_from(restored, 64, 32)[0] == masked[0]  # the same cells, prompt and weight
    assert values_of(p.updates_from({}, 64, 32), p)["rg_enable"] is False


def test_each_painted_region_layer_is_its_rows_mask_and_an_unpainted_prompted_row_is_refused():
    from modules.ui.components.canvas.value import CanvasLayer, CanvasValue
    from modules.ui.regions_panel import PAINTED

    left = Image.new("RGBA", (64, 32), (0, 0, 0, 0))
    ImageDraw.Draw(left).rectangle((0, 0, 31, 31), fill=(230, 25, 75, 90))  # faint paint is still inside
    layers = (CanvasLayer("region-1", "region", left),
              CanvasLayer("region-2", "region", Image.new("RGBA", (64, 32), (0, 0, 0, 0))))
    values = {"rg_enable": True, "rg_source": PAINTED, "rg_canvas": CanvasValue(64, 32, None, layers),
              "rg_0_prompt": "a red circle", "rg_0_weight": 0.8}
    (region,) = panel().regions_from(values, 64, 32)
    assert region.prompt == "a red circle" and region.weight == 0.8 and region.box is None
    assert region.mask == encode_mask(Image.new("L", (32, 32), 255).crop((0, 0, 64, 32)), grid_for(64, 32))
    with pytest.raises(gr.Error, match="Region 2 has a prompt but nothing is painted on its layer 'region-2'"):
        panel().regions_from({**values, "rg_1_prompt": "a blue square", "rg_1_weight": 1}, 64, 32)
    with pytest.raises(gr.Error, match="the picture is 64x64: press \"Page at the picture size\""):
        panel().regions_from(values, 64, 64)
