"""Detect and redraw (ADetailer's shape): its settings, infotext, API args, masks and detection models."""

from __future__ import annotations

import shutil
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from modules.core import detailer as core
from modules.core.detailer import DetailerUnit
from modules.core.infotext import format_infotext, parse_infotext
from modules.core.request_infotext import request_fields_from_infotext
from modules.core.requests import GenerationRequest, RequestError
from modules.core.validation import validate
from modules.engine.detailer import Detection, DetailerError, Detectors, JobDetailer, region_masks, region_request


def test_units_written_to_the_infotext_come_back_from_png_info():
    units = (DetailerUnit(prompt="a smiling face", denoising_strength=0.5, use_steps=True, steps=12),
             DetailerUnit(model="hands.xml", negative_prompt="blurry", mask_k_largest=2, inpaint_only_masked=False,
                          use_sampler=True, sampler="Euler", use_cfg_scale=True, cfg_scale=4.5, dilate_erode=-8))
    text = format_infotext("a portrait", "", {"Steps": 20, **core.infotext_params(units)})
    parsed = parse_infotext(text)
    assert parsed.params["ADetailer prompt"] == "a smiling face"
    assert parsed.params["ADetailer model 2nd"] == "hands.xml"
    assert parsed.params["ADetailer version"] == core.VERSION
    assert request_fields_from_infotext(parsed.prompt, parsed.negative_prompt, parsed.params)["detailer"] == units


def test_switched_off_values_stay_out_of_the_infotext_as_adetailer_writes_it():
    params = core.infotext_params((DetailerUnit(steps=50, cfg_scale=3.0),))
    assert "ADetailer steps" not in params and "ADetailer CFG scale" not in params
    assert params["ADetailer inpaint padding"] == 32 and "ADetailer prompt" not in params


def test_adetailer_api_args_with_both_flags_give_the_units_and_skip_img2img():
    units, skip = core.from_script_args({"args": [True, True, {"ad_model": "face_lbp", "ad_prompt": "a face",
                                                               "ad_denoising_strength": 0.6, "is_api": []},
                                                  {"ad_model": "None"}]})
    assert skip is True and units == (DetailerUnit(prompt="a face", denoising_strength=0.6),)


def test_adetailer_api_args_without_flags_and_turned_off():
    assert core.from_script_args({"args": [{"ad_prompt": "x"}]}) == ((DetailerUnit(prompt="x"),), False)
    assert core.from_script_args({"args": [False, {"ad_prompt": "x"}]}) == ((), False)
    assert core.from_script_args({"args": [{"ad_prompt": "x", "ad_tab_enable": False}]}) == ((), False)


def test_an_unsupported_adetailer_switch_is_refused_with_its_reason():
    with pytest.raises(ValueError, match="ad_restore_face = True was refused: face restoration inside a unit"):
        core.from_script_args({"args": [{"ad_restore_face": True}]})
    with pytest.raises(ValueError, match="ControlNet inside a unit is not supported"):
        core.from_script_args({"args": [{"ad_controlnet_model": "control_v11p_sd15_inpaint"}]})
    assert core.from_script_args({"args": [{"ad_controlnet_model": "None", "ad_restore_face": False}]})[0]


def test_an_unknown_adetailer_field_is_refused_listing_the_known_ones():
    with pytest.raises(ValueError, match="unknown fields: ad_promt. Known fields: .*ad_prompt"):
        core.from_script_args({"args": [{"ad_promt": "typo"}]})


@pytest.mark.parametrize("unit,message", [
    (DetailerUnit(denoising_strength=1.5), "ADetailer denoising strength must be between 0 and 1"),
    (DetailerUnit(inpaint_width=501, use_inpaint_width_height=True), "multiple of 8, but is 501. Try 504"),
    (DetailerUnit(mask_min_ratio=0.5, mask_max_ratio=0.2), "min ratio .* is above the max ratio"),
    (DetailerUnit(model="None"), "has no detection model"),
    (DetailerUnit(inpaint_only_masked=False, use_inpaint_width_height=True), "works with 'Inpaint only masked'"),
])
def test_bad_unit_values_are_refused_naming_the_unit_and_field(unit, message):
    with pytest.raises(RequestError, match=f"ADetailer unit 2.*{message}"):
        validate(GenerationRequest(detailer=(DetailerUnit(), unit)))


def test_ordinal_suffixes_follow_adetailer():
    assert [core.suffix(i) for i in (0, 1, 2, 3, 10, 20)] == ["", " 2nd", " 3rd", " 4th", " 11th", " 21st"]


def test_masks_are_the_boxes_grown_by_half_the_dilation_and_moved_by_the_offsets():
    found = [Detection((10, 20, 30, 40))]
    (mask,) = region_masks(DetailerUnit(dilate_erode=6, x_offset=5, y_offset=2), found, (64, 64))
    assert mask.getbbox() == (10 - 3 + 5, 20 - 3 - 2, 30 + 3 + 5, 40 + 3 - 2)
    (shrunk,) = region_masks(DetailerUnit(dilate_erode=-4), found, (64, 64))
    assert shrunk.getbbox() == (12, 22, 28, 38)


def test_k_largest_ratio_and_confidence_filter_the_regions():
    found = [Detection((0, 0, 8, 8)), Detection((20, 20, 40, 40)), Detection((50, 50, 60, 60), score=0.2)]
    boxes = [m.getbbox() for m in region_masks(DetailerUnit(dilate_erode=0, mask_k_largest=1), found, (64, 64))]
    assert boxes == [(20, 20, 40, 40)]
    boxes = [m.getbbox() for m in region_masks(DetailerUnit(dilate_erode=0, mask_min_ratio=0.02), found, (64, 64))]
    assert boxes == [(20, 20, 40, 40)]  # the 8x8 box is 1.6% of the picture, the third scores under 0.3


def test_merge_and_invert_make_one_mask():
    found = [Detection((0, 0, 8, 8)), Detection((20, 20, 40, 40))]
    (merged,) = region_masks(DetailerUnit(dilate_erode=0, mask_merge_invert="Merge"), found, (64, 64))
    assert merged.getbbox() == (0, 0, 40, 40) and merged.getpixel((10, 10)) == 0
    (inverted,) = region_masks(DetailerUnit(dilate_erode=0, mask_merge_invert="Merge and Invert"), found, (64, 64))
    assert inverted.getpixel((4, 4)) == 0 and inverted.getpixel((10, 10)) == 255


def test_the_region_request_takes_the_units_values_and_the_region_seed():
    base = GenerationRequest(prompt="a portrait <lora:x:1>", negative_prompt="ugly", steps=20, cfg_scale=7,
                             width=512, height=512, enable_hr=True, restore_faces=True)
    unit = DetailerUnit(prompt="[PROMPT], detailed eyes", use_steps=True, steps=9, use_inpaint_width_height=True,
                        inpaint_width=256, inpaint_height=128, mask_blur=6, denoising_strength=0.3)
    picture = Image.new("RGB", (1024, 1024))
    region = region_request(base, unit, picture, Image.new("L", (1024, 1024)), 7, 9)
    assert region.mode == "inpaint" and region.prompt == "a portrait <lora:x:1>, detailed eyes"
    assert region.negative_prompt == "ugly" and (region.width, region.height) == (256, 128)
    assert (region.steps, region.cfg_scale, region.seed, region.subseed) == (9, 7, 7, 9)
    assert region.inpaint_full_res and region.mask_blur == 6 and region.denoising_strength == 0.3
    assert not region.enable_hr and not region.restore_faces and region.detailer == ()


def test_a_yolo_model_is_refused_naming_ultralytics_and_what_is_available(tmp_path):
    (tmp_path / "face_yolov8n.pt").write_bytes(b"not loaded")
    detectors = Detectors(tmp_path)
    assert detectors.names() == [core.BUILTIN_FACE]
    with pytest.raises(DetailerError, match="needs? the ultralytics package, which is AGPL-3.0.*Available here: "
                                            "face_lbp"):
        detectors.check("face_yolov8n.pt")
    with pytest.raises(DetailerError, match="'hands' not found. Available: face_lbp"):
        detectors.check("hands")


def test_an_lbp_cascade_in_the_models_folder_is_listed_and_finds_the_astronauts_face(tmp_path):
    from skimage.data import astronaut, lbp_frontal_face_cascade_filename

    shutil.copy(lbp_frontal_face_cascade_filename(), tmp_path / "my_faces.xml")
    detectors = Detectors(tmp_path)
    assert detectors.names() == [core.BUILTIN_FACE, "my_faces.xml"]
    (found,) = detectors.detect("my_faces.xml", Image.fromarray(astronaut()))
    left, top, right, bottom = found.box
    assert 150 < (left + right) / 2 < 250 and 60 < (top + bottom) / 2 < 160  # her face is at about (220, 115)


def test_a_broken_cascade_file_is_a_clear_error(tmp_path):
    (tmp_path / "broken.xml").write_text("not xml")
    with pytest.raises(DetailerError, match="could not be read .* LBP cascade in OpenCV's XML format"):
        Detectors(tmp_path).detect("broken.xml", Image.fromarray(np.zeros((64, 64, 3), np.uint8)))


@pytest.mark.parametrize("text,expected", [
    ("", ["a portrait", "a portrait", "a portrait"]),  # empty: the picture's own prompt for every region
    ("blue eyes [SEP] green eyes", ["blue eyes", "green eyes", "green eyes"]),  # the last part serves the rest
    ("[PROMPT], smiling[SEP][SEP]  ", ["a portrait, smiling", "a portrait", "a portrait"]),  # empty parts: own
])
def test_sep_gives_each_detected_region_its_own_prompt_in_detection_order(text, expected):
    assert [core.region_prompt(text, "a portrait", j) for j in range(3)] == expected


class _FoundThree:
    """Three faces, in this detection order."""

    def detect(self, name, image):
        return [Detection((0, 0, 8, 8)), Detection((20, 0, 28, 8)), Detection((40, 0, 48, 8))]


def test_the_job_detailer_redraws_each_region_with_its_sep_prompt_and_seed_and_leaves_skip_as_drawn():
    base = GenerationRequest(prompt="two friends", negative_prompt="blurry", seed=5)
    unit = DetailerUnit(prompt="a happy face [SEP] [SKIP] [SEP] [PROMPT], a sad face",
                        negative_prompt="[SEP] frown", dilate_erode=0)
    redrawn = []

    def inpaint(region):
        redrawn.append((region.prompt, region.negative_prompt, region.seed, region.mask.getbbox()))
        return region.init_images[0]

    JobDetailer(validate(replace(base, detailer=(unit,))), _FoundThree(), inpaint)(Image.new("RGB", (64, 16)), 5, 6)
    assert redrawn == [("a happy face", "blurry", 5, (0, 0, 8, 8)),
                       ("two friends, a sad face", "frown", 7, (40, 0, 48, 8))]  # the second region: skipped
