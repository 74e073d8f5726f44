"""The img2img tab's form -> GenerationRequest, without a browser: each sub-tab's picture, mask and mode."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from modules.core.requests import RequestError
from modules.core.validation import validate
from modules.ui.canvas import white_page
from modules.ui.components.canvas.value import CanvasLayer, CanvasValue
from modules.ui.img2img import fit_size, outpaint_padding, read_upload, request_from_form

PHOTO = Image.new("RGB", (40, 24), (10, 120, 200))


def stroke_layer(size=(40, 24), box=(5, 5, 10, 8), color=(255, 255, 255, 190)) -> Image.Image:
    layer = Image.new("RGBA", size, (0, 0, 0, 0))
    layer.paste(color, box)
    return layer


def editor(background=PHOTO, mask=None, paint=None, size=(40, 24)) -> CanvasValue | None:
    """A LayeredCanvas value: the picture, and the mask and paint layers as the browser sends them."""
    empty = Image.new("RGBA", size, (0, 0, 0, 0))
    layers = (CanvasLayer("paint", "paint", paint or empty), CanvasLayer("mask", "mask", mask or empty))
    return CanvasValue(size[0], size[1], background, layers)


FORM = {"prompt": "a red circle", "negative_prompt": "", "steps": 4, "width": 40, "height": 24, "seed": 3,
        "sampler": "Euler", "schedule_type": "Automatic", "cfg_scale": 7, "denoising_strength": 0.6,
        "resize_mode": 1, "mask_blur": 2, "mask_mode": 0, "inpainting_fill": 1, "inpaint_area": 0, "padding": 16,
        "outpaint_pixels": 64, "outpaint_directions": ["left", "up"], "outpaint_fill": "noise"}


def test_img2img_tab_uses_the_upload():
    request = request_from_form("img2img", {**FORM, "init_img": PHOTO})
    assert request.mode == "img2img" and request.init_images == (PHOTO,) and request.mask is None
    assert (request.denoising_strength, request.resize_mode, request.seed) == (0.6, 1, 3)
    validate(request)
    with pytest.raises(RequestError, match="Upload a picture to start from"):
        request_from_form("img2img", FORM)


def test_sketch_tab_uses_the_drawing_on_white():
    drawing = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    drawing.paste((255, 0, 0, 255), (10, 10, 20, 20))
    page = white_page((64, 64))
    request = request_from_form("sketch", {**FORM, "sketch": editor(page.background, paint=drawing, size=(64, 64))})
    image = request.init_images[0]
    assert request.mode == "img2img" and image.mode == "RGB"
    assert image.getpixel((15, 15)) == (255, 0, 0) and image.getpixel((40, 40)) == (255, 255, 255)


def test_inpaint_tab_mask_is_the_mask_layer_and_the_picture_is_unpainted():
    request = request_from_form("inpaint", {**FORM, "inpaint": editor(PHOTO, mask=stroke_layer())})
    assert request.mode == "inpaint" and request.init_images[0].tobytes() == PHOTO.tobytes()  # no strokes in it
    assert request.mask.mode == "L" and request.mask.getbbox() == (5, 5, 10, 8)
    assert (request.mask_blur, request.inpainting_fill, request.inpaint_full_res) == (2, 1, False)
    validate(request)


def test_inpaint_with_nothing_painted_says_so():
    request = request_from_form("inpaint", {**FORM, "inpaint": editor(PHOTO, mask=stroke_layer(color=(0, 0, 0, 0)))})
    with pytest.raises(RequestError, match="Nothing to inpaint: the mask is empty"):
        validate(request)
    with pytest.raises(RequestError, match="Upload a picture to inpaint first"):
        request_from_form("inpaint", {**FORM, "inpaint": editor(None)})
    with pytest.raises(RequestError, match="Upload a picture to inpaint first"):
        request_from_form("inpaint", {**FORM, "inpaint": None})


def test_inpaint_sketch_starts_from_the_painted_colours():
    layer = stroke_layer(color=(255, 0, 0, 255))
    request = request_from_form("inpaint_sketch", {**FORM, "inpaint_sketch": editor(PHOTO, paint=layer)})
    assert request.init_images[0].getpixel((6, 6)) == (255, 0, 0)
    assert request.mask.getbbox() == (5, 5, 10, 8)


def test_options_map_to_a1111_fields():
    form = {**FORM, "mask_mode": 1, "inpaint_area": 1, "inpainting_fill": 3}
    request = request_from_form("inpaint", {**form, "inpaint": editor(PHOTO, mask=stroke_layer())})
    assert request.inpainting_mask_invert and request.inpaint_full_res and request.inpainting_fill == 3
    assert request.inpaint_full_res_padding == 16


def test_inpaint_upload_and_outpaint_tabs():
    upload_mask = Image.new("L", (40, 24), 0)
    upload_mask.paste(255, (1, 1, 4, 4))
    request = request_from_form("inpaint_upload", {**FORM, "upload_image": PHOTO, "upload_mask": upload_mask})
    assert request.mode == "inpaint" and request.mask is upload_mask
    with pytest.raises(RequestError, match="needs both a picture and a mask"):
        request_from_form("inpaint_upload", {**FORM, "upload_image": PHOTO})
    out = request_from_form("outpaint", {**FORM, "outpaint_image": editor(PHOTO)})
    assert out.mode == "inpaint" and out.mask is None  # an unpainted mask layer: only the border is new
    assert out.init_images[0].size == PHOTO.size and out.init_images[0].getpixel((0, 0)) == (10, 120, 200)
    assert out.outpaint == (64, 0, 64, 0) and out.outpaint_fill == "noise"
    validate(out)
    with pytest.raises(RequestError, match="choose at least one direction"):
        request_from_form("outpaint", {**FORM, "outpaint_image": editor(PHOTO), "outpaint_directions": []})
    with pytest.raises(RequestError, match="Upload a picture to outpaint"):
        request_from_form("outpaint", {**FORM, "outpaint_image": None})


def test_the_outpaint_canvas_gives_its_paint_to_the_picture_and_its_mask_to_the_job():
    white = stroke_layer(box=(20, 10, 30, 20), color=(255, 255, 255, 255))
    out = request_from_form("outpaint", {**FORM, "outpaint_image": editor(PHOTO, mask=stroke_layer(), paint=white)})
    assert out.init_images[0].getpixel((25, 15)) == (255, 255, 255)
    assert out.mask.getbbox() == (5, 5, 10, 8)  # the part to redo as well as the new border
    validate(out)


def test_paint_on_the_inpaint_canvas_goes_into_the_picture_never_into_the_mask():
    white = stroke_layer(box=(20, 10, 30, 20), color=(255, 255, 255, 255))  # white paint: no colour is a mask
    request = request_from_form("inpaint", {**FORM, "inpaint": editor(PHOTO, mask=stroke_layer(), paint=white)})
    assert request.mask.getbbox() == (5, 5, 10, 8)
    assert request.init_images[0].getpixel((25, 15)) == (255, 255, 255)
    # inpaint sketch: a painted mask layer wins over the colours' own outline
    sketch = request_from_form("inpaint_sketch", {**FORM, "inpaint_sketch": editor(PHOTO, mask=stroke_layer(),
                                                                                    paint=white)})
    assert sketch.mask.getbbox() == (5, 5, 10, 8)
    assert np.asarray(request_from_form("inpaint", {**FORM, "inpaint": editor(PHOTO)}).mask).max() == 0


def test_outpaint_padding_follows_the_picture_size():
    assert outpaint_padding(Image.new("RGB", (64, 48))) == 16
    assert outpaint_padding(Image.new("RGB", (512, 768))) == 192
    assert outpaint_padding(Image.new("RGB", (4000, 100))) == 256  # the slider's maximum
    assert outpaint_padding(Image.new("RGB", (16, 16))) == 8
    assert outpaint_padding(None) is None


def test_fit_size_follows_the_upload_in_multiples_of_8():
    assert fit_size(Image.new("RGB", (128, 96))) == (128, 96)
    assert fit_size(Image.new("RGB", (30, 10))) == (32, 8)
    assert fit_size(Image.new("RGB", (4000, 3000))) == (1024, 768)
    assert fit_size(None) is None


def test_uploads_are_read_whole_with_a_reason_when_they_cannot_be(tmp_path):
    good, cut, notes, wide = (tmp_path / n for n in ("good.png", "cut.png", "notes.png", "wide.png"))
    PHOTO.save(good)
    cut.write_bytes(good.read_bytes()[:60])
    notes.write_text("not a picture")
    Image.new("L", (100, 4)).save(wide)
    picture, problem = read_upload({"path": str(good)}, 64)
    assert problem is None and picture.size == (40, 24) and picture.getpixel((0, 0)) == (10, 120, 200)
    assert "could not be read" in read_upload({"path": str(cut)}, 64)[1]
    assert "not a picture" in read_upload({"path": str(notes)}, 64)[1]
    assert "100x4 pixels, over the limit of 64" in read_upload({"path": str(wide)}, 64)[1]
    assert read_upload(None, 64) == (None, None)


def test_checkpoint_note_lists_unusable_files_with_reasons(tmp_path, cpu_fp32):
    from types import SimpleNamespace

    from modules.engine.models.manager import ModelManager
    from modules.ui.txt2img import checkpoint_choices

    (tmp_path / "broken.safetensors").write_bytes(b"not a safetensors file")
    models = ModelManager(checkpoints_dir=tmp_path, vae_dir=tmp_path / "VAE", cache_file=tmp_path / "c.json",
                          device=cpu_fp32)
    models.refresh()
    choices, selected, note = checkpoint_choices(SimpleNamespace(models=models))
    assert choices == [] and selected is None
    assert "broken.safetensors" in note and "safetensors" in note.split("broken.safetensors", 1)[1]


def test_pnginfo_maps_legacy_sampler_names_and_drops_unknown_ones(samplers):
    from modules.ui.pnginfo import txt2img_values

    text = "a cat\nSteps: 20, Sampler: DPM++ 2M Karras, CFG scale: 7, Seed: 1, Size: 512x512"
    values, message = txt2img_values(samplers, text)
    assert values["sampler"] == "DPM++ 2M" and values["schedule_type"] == "Karras"
    values, message = txt2img_values(samplers, "a cat\nSteps: 20, Sampler: Made Up, Schedule type: Odd, Seed: 1")
    assert "sampler" not in values and "schedule_type" not in values and "Made Up" in message
    values, _ = txt2img_values(samplers, "a cat\nSteps: 20, Sampler: Euler, Schedule type: Align Your Steps, Seed: 1")
    assert values["sampler"] == "Euler" and "schedule_type" not in values


def test_refresh_keeps_the_chosen_checkpoint_when_its_title_gains_a_hash(manager):
    from types import SimpleNamespace

    from modules.ui.txt2img import kept_choice

    services = SimpleNamespace(models=manager)
    before = manager.resolve("tiny-b").title  # may still be the bare name
    manager.load(manager.resolve("tiny-b"))  # loading computes the hash: the title becomes "tiny-b [hash]"
    after = manager.resolve("tiny-b").title
    assert after.startswith("tiny-b [")
    assert kept_choice(services, before, "fallback") == after
    assert kept_choice(services, "gone.safetensors", "fallback") == "fallback"


def test_send_to_img2img_fills_each_output_it_names_and_keeps_what_it_was_not_given():
    """One "Send to img2img / inpaint" for txt2img, PNG Info and History: every output gets its update, in order."""
    from dataclasses import fields

    from modules.ui.img2img import PICTURE_SETTINGS, Img2ImgTab, SendToImg2Img

    # (the soft inpainting, ADetailer, regions and step cache panels: tests/unit/test_send_to_panels.py and
    # tests/unit/test_ui_step_cache.py)
    tab = Img2ImgTab(**{f.name: f"<{f.name}>" for f in fields(Img2ImgTab)
                         if f.name not in ("soft", "detailer", "regions", "step_cache")})
    picture = Image.new("RGB", (2048, 1024))  # scaled to a working size of at most 1024 per side
    for target, box in (("img2img", "<init_img>"), ("inpaint", "<inpaint>")):
        sending = SendToImg2Img(tab, "<tabs>", target)
        outputs = sending.outputs()
        updates = dict(zip(outputs, sending.updates(picture, {"prompt": "a fox", "steps": 12})))
        assert len(outputs) == len(sending.updates(picture, {})) == 7 + len(PICTURE_SETTINGS)
        assert updates["<prompt>"]["value"] == "a fox" and updates["<steps>"]["value"] == 12
        assert "value" not in updates["<sampler>"]  # not in the picture's parameters: the field keeps its value
        assert (updates["<width>"]["value"], updates["<height>"]["value"]) == (1024, 512)
        assert updates["<subtabs>"].selected == target and updates["<tabs>"].selected == "img2img"
        assert updates["<tab>"] == target and updates["<inpaint_options>"]["visible"] == (target == "inpaint")
        # the picture itself; on the inpaint canvas it becomes the background of a new page, nothing painted yet
        assert updates[box] is picture


def test_txt2img_form_fills_the_request_and_empty_fields_mean_random_seeds_and_the_default_model():
    from modules.ui.txt2img import request_from_form as txt2img_request

    values = {"prompt": None, "negative_prompt": "blurry", "sampler": "Euler", "schedule_type": "Karras", "steps": 4,
              "cfg_scale": 5.0, "width": 64, "height": 48, "seed": None, "subseed": 9, "subseed_strength": 0.2,
              "batch_count": 2, "batch_size": 1, "clip_skip": 2, "checkpoint": "", "vae": None}
    request = txt2img_request(values, extra={"ext": {"k": 1}})
    assert (request.prompt, request.negative_prompt, request.seed, request.subseed) == ("", "blurry", -1, 9)
    assert (request.checkpoint, request.vae, request.extra) == (None, "Automatic", {"ext": {"k": 1}})
    assert (request.width, request.height, request.batch_count, request.clip_skip) == (64, 48, 2, 2)
    validate(request)


def test_more_reference_pictures_follow_the_img2img_picture_in_order(tmp_path):
    paths = []
    for i, colour in enumerate(((200, 0, 0), (0, 200, 0))):
        path = tmp_path / f"ref{i}.png"
        Image.new("RGB", (16, 16), colour).save(path)
        paths.append(str(path))
    request = request_from_form("img2img", {**FORM, "init_img": PHOTO, "extra_references": paths})
    assert request.init_images[0] is PHOTO and len(request.init_images) == 3
    assert [p.getpixel((0, 0)) for p in request.init_images[1:]] == [(200, 0, 0), (0, 200, 0)]
    inpaint = request_from_form("inpaint", {**FORM, "inpaint": editor(mask=stroke_layer()), "extra_references": paths})
    assert len(inpaint.init_images) == 1  # only the img2img tab takes them
    kontext = request_from_form("inpaint", {**FORM, "inpaint": editor(mask=stroke_layer()),
                                            "inpaint_reference": paths[1]})
    assert len(kontext.init_images) == 2 and kontext.init_images[1].getpixel((0, 0)) == (0, 200, 0)
    assert kontext.mask is not None  # the reference follows the inpainted picture; the mask stays the first's


def test_a_reference_that_is_not_a_picture_is_named_in_the_error(tmp_path):
    broken = tmp_path / "notes.png"
    broken.write_text("not a picture")
    with pytest.raises(RequestError, match="notes.png cannot be read"):
        request_from_form("img2img", {**FORM, "init_img": PHOTO, "extra_references": [str(broken)]})
