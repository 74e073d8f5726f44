"""Regions as plain data: boxes and masks checked with errors that teach, masks kept on the latent grid, colour
maps, the infotext round trip, and Regional Prompter's API args."""

from __future__ import annotations

from dataclasses import replace

import pytest
from PIL import Image, ImageDraw

from modules.core.infotext import format_infotext, parse_infotext
from modules.core.regional_prompter import from_script_args
from modules.core.regions import (Region, RegionError, colour_mask, colours_of, decode_mask, encode_mask,
                                  from_infotext, from_items, grid_for, layout_preview, to_infotext,
                                  validate_regions)
from modules.core.request_infotext import request_fields_from_infotext
from modules.core.requests import GenerationRequest, RequestError
from modules.core.validation import validate

LEFT = Region("a red circle", 1.0, (0, 0, 0.5, 1))
RIGHT = Region("a blue circle", 0.8, (0.5, 0, 1, 1))


@pytest.mark.parametrize("box, words", [
    ((0, 0, 64, 1), "fractions of the picture"),
    ((0.5, 0, 0.5, 1), "empty"),
    ((0, 0, 1), "four numbers"),
    ((0, "top", 1, 1), "must be a number"),
    ((0, 0, float("nan"), 1), "finite"),
])
def test_a_bad_box_is_refused_with_what_to_send(box, words):
    with pytest.raises(RegionError, match=words):
        validate_regions((Region("x", 1.0, box),))


def test_a_region_needs_a_prompt_a_weight_in_range_and_one_of_box_and_mask():
    with pytest.raises(RegionError, match="Region 1 has no prompt"):
        validate_regions((Region(" ", 1.0, (0, 0, 1, 1)),))
    with pytest.raises(RegionError, match="weight must be above 0 and at most 1"):
        validate_regions((Region("x", 1.5, (0, 0, 1, 1)),))
    with pytest.raises(RegionError, match="exactly one of"):
        validate_regions((Region("x", 1.0),))
    with pytest.raises(RegionError, match="at most 16"):
        validate_regions(tuple(LEFT for _ in range(17)))


def test_a_mask_is_kept_on_the_latent_grid_and_decodes_to_the_same_cells():
    picture = Image.new("L", (64, 32), 0)
    ImageDraw.Draw(picture).rectangle((0, 0, 31, 31), fill=255)  # the left half
    text = encode_mask(picture, grid_for(64, 32))
    cells = decode_mask(text)
    assert cells.size == (8, 4)
    assert cells.crop((0, 0, 4, 4)).getextrema() == (255, 255) and cells.crop((4, 0, 8, 4)).getextrema() == (0, 0)
    assert text.startswith("8x4:")


def test_damaged_or_empty_masks_are_refused():
    with pytest.raises(RegionError, match="damaged|needs"):
        decode_mask("8x4:AAAA")
    empty = encode_mask(Image.new("L", (64, 32), 0), (8, 4))
    with pytest.raises(RegionError, match="mask is empty"):
        validate_regions((Region("x", 1.0, None, empty),))


def test_each_colour_of_a_colour_map_becomes_its_own_mask():
    picture = Image.new("RGB", (64, 32), (255, 255, 255))
    ImageDraw.Draw(picture).rectangle((0, 0, 31, 31), fill=(255, 0, 0))
    colours = dict(colours_of(picture))
    assert set(colours) == {(255, 0, 0), (255, 255, 255)} and abs(colours[(255, 0, 0)] - 0.5) < 1e-9
    red = decode_mask(colour_mask(picture, (255, 0, 0), (8, 4)))
    assert red.crop((0, 0, 4, 4)).getextrema() == (255, 255) and red.crop((4, 0, 8, 4)).getextrema() == (0, 0)


def test_regions_round_trip_through_the_infotext_and_png_info():
    mask = encode_mask(Image.new("L", (16, 16), 255), (2, 2))
    regions = (LEFT, RIGHT, Region("a star, (bright:1.2)", 0.5, None, mask))
    text = format_infotext("two shapes", "", {"Steps": 20, "Seed": 1, "Regions": to_infotext(regions)})
    parsed = parse_infotext(text)
    assert from_infotext(parsed.params["Regions"]) == regions
    fields = request_fields_from_infotext(parsed.prompt, parsed.negative_prompt, parsed.params)
    assert fields["regions"] == regions and fields["prompt"] == "two shapes"


def test_api_items_with_unknown_fields_are_refused_not_ignored():
    with pytest.raises(RegionError, match="negative_prompt"):
        from_items([{"prompt": "x", "box": [0, 0, 1, 1], "negative_prompt": "y"}])
    assert from_items([{"prompt": "x", "box": [0, 0, 1, 1]}]) == (Region("x", 1.0, (0.0, 0.0, 1.0, 1.0)),)


def test_validate_checks_region_prompts_and_refuses_what_regions_cannot_follow():
    request = GenerationRequest(prompt="base", regions=(LEFT,))
    assert validate(request).regions == (LEFT,)
    with pytest.raises(RequestError, match="Region 1's prompt is 10,001 characters"):
        validate(replace(request, regions=(replace(LEFT, prompt="x" * 10_001),)))
    with pytest.raises(RequestError, match="refiner"):
        validate(replace(request, refiner_checkpoint="other"))
    with pytest.raises(RequestError, match="box .* is empty"):
        validate(replace(request, regions=(Region("x", 1.0, (1, 0, 0, 1)),)))


def test_the_layout_preview_colours_each_region_where_it_is():
    preview = layout_preview((LEFT, RIGHT), 64, 32)
    assert preview.size == (64, 32)
    left, right = preview.getpixel((30, 28)), preview.getpixel((34, 28))
    assert left != (255, 255, 255) and right != (255, 255, 255) and left != right


def rp(*args):
    return {"args": [True, False, "Matrix", *args]}


def test_regional_prompter_columns_split_left_to_right_with_break():
    converted = from_script_args(rp("Columns", "Mask", "Prompt", "1,1"), "red circle BREAK blue circle")
    assert converted.prompt == ""
    assert [(r.prompt, r.box, r.weight) for r in converted.regions] == [
        ("red circle", (0.0, 0.0, 0.5, 1.0), 1.0), ("blue circle", (0.5, 0.0, 1.0, 1.0), 1.0)]


def test_regional_prompter_2d_rows_base_and_common_prompts():
    converted = from_script_args(rp("Columns", "Mask", "Prompt", "1,2,1;1,1", "0.25", True),
                                 "a scene ADDBASE sky ADDCOL sun ADDROW sea")
    assert converted.prompt == "a scene"
    assert [r.box for r in converted.regions] == [(0.0, 0.0, 0.666667, 0.5), (0.666667, 0.0, 1.0, 0.5),
                                                   (0.0, 0.5, 1.0, 1.0)]
    assert {r.weight for r in converted.regions} == {0.75}
    rows = from_script_args(rp("Rows", "Mask", "Prompt", "1,1"), "best ADDCOMM top BREAK bottom")
    assert [(r.prompt, r.box) for r in rows.regions] == [("best, top", (0.0, 0.0, 1.0, 0.5)),
                                                          ("best, bottom", (0.0, 0.5, 1.0, 1.0))]


def test_regional_prompter_inactive_is_nothing_and_unsupported_modes_are_refused():
    assert from_script_args({"args": [False]}, "x BREAK y") is None
    with pytest.raises(RegionError, match="Mask mode is not supported"):
        from_script_args({"args": [True, False, "Mask"]}, "x BREAK y")
    with pytest.raises(RegionError, match="Latent calculation mode"):
        from_script_args(rp("Columns", "Mask", "Prompt", "1,1", "0.2", False, False, False, "Latent"), "x BREAK y")
    with pytest.raises(RegionError, match="makes 2 regions, but the prompt has 3"):
        from_script_args(rp("Columns", "Mask", "Prompt", "1,1"), "x BREAK y BREAK z")
    with pytest.raises(RegionError, match="negative prompt per region"):
        from_script_args(rp("Columns", "Mask", "Prompt", "1,1"), "x BREAK y", "ugly BREAK blurry")
