"""The Step cache accordion: form -> request fields, and "Send to" restoring the cache a picture was made with."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from modules.core.infotext import format_infotext
from modules.core.requests import GenerationRequest, RequestError
from modules.core.validation import validate
from modules.ui.pnginfo import txt2img_values
from modules.ui.step_cache_panel import CHOICES, DEEPCACHE, DEFAULT_INTERVAL, OFF, StepCachePanel

SAMPLERS = SimpleNamespace(resolve_with_schedule=lambda s, t=None: (SimpleNamespace(name=s), "Automatic"))


def form(choice, interval=DEFAULT_INTERVAL):
    panel = StepCachePanel(object(), object())
    return panel, {panel.choice: choice, panel.interval: interval}


def test_off_asks_for_no_cache_and_each_choice_sets_its_own_field():
    panel, data = form(OFF, 5)
    assert panel.fields(data) == {}
    panel, data = form(DEEPCACHE, 5)
    assert panel.fields(data) == {"deepcache_interval": 5}
    for name in ("FirstBlockCache", "TaylorSeer", "MagCache"):
        panel, data = form(name)
        assert panel.fields(data) == {"step_cache": name}


@pytest.mark.parametrize("choice", CHOICES)
def test_every_choice_makes_a_request_that_validates(choice):
    panel, data = form(choice)
    validate(GenerationRequest(prompt="x", **panel.fields(data)))


def test_a_name_the_request_does_not_know_is_refused_not_dropped():
    panel, data = form("NoSuchCache")
    with pytest.raises(RequestError, match="Step cache must be one of"):
        validate(GenerationRequest(prompt="x", **panel.fields(data)))


@pytest.mark.parametrize(("params", "choice", "interval"), [
    ({"DeepCache interval": "4"}, DEEPCACHE, 4),
    ({"Step cache": "TaylorSeer"}, "TaylorSeer", None),
    ({}, OFF, None),
])
def test_an_infotext_restores_the_cache_and_the_form_asks_for_it_again(params, choice, interval):
    text = format_infotext("a red circle", "", {"Steps": 6, "Sampler": "Euler", "Seed": 7, "Size": "16x16", **params})
    values, _ = txt2img_values(SAMPLERS, text)
    panel = StepCachePanel(object(), object())
    choice_update, interval_update = panel.updates_from(values)
    assert choice_update["value"] == choice
    assert interval_update.get("value") == interval
    submitted = {panel.choice: choice_update["value"], panel.interval: interval_update.get("value", DEFAULT_INTERVAL)}
    request = validate(GenerationRequest(prompt="a red circle", **panel.fields(submitted)))
    assert (request.deepcache_interval, request.step_cache) == (values.get("deepcache_interval", 0),
                                                                values.get("step_cache", ""))


def test_a_damaged_infotext_value_turns_the_cache_off():
    panel = StepCachePanel(object(), object())
    assert panel.updates_from({"step_cache": "Bogus"})[0]["value"] == OFF
    assert panel.updates_from({"deepcache_interval": 99})[0]["value"] == OFF


def test_the_step_cache_accordion_is_in_both_tabs_and_png_info_fills_it(tiny_models_dir, tmp_path):
    import torch

    from modules.engine.devices import DeviceConfig
    from modules.ui.app import build_ui
    from modules.ui.pnginfo import txt2img_outputs, txt2img_updates
    from tests.api.conftest import make_services

    device = DeviceConfig(torch.device("cpu"), torch.float32, "tests")
    services = make_services(tiny_models_dir, tmp_path, device, per_user_outputs=False)
    ui = build_ui(services)
    blocks = {getattr(block, "elem_id", None): block for block in ui.blocks.values()}
    for tab in ("txt2img", "img2img"):
        assert blocks[f"{tab}_step_cache"].label == "Step cache"
        assert blocks[f"{tab}_step_cache_choice"].value == OFF
        assert "infotext" in blocks[f"{tab}_step_cache_note"].value
    txt2img = SimpleNamespace(hires=None, refiner=None, controlnet=None, prompt=None,
                              step_cache=StepCachePanel(blocks["txt2img_step_cache_choice"],
                                                        blocks["txt2img_deepcache_interval"]))
    for name in ("negative_prompt", "sampler", "schedule_type", "steps", "cfg_scale", "width", "height", "seed",
                 "subseed", "subseed_strength", "clip_skip", "restore_faces", "distilled_cfg_scale", "checkpoint"):
        setattr(txt2img, name, None)
    outputs = txt2img_outputs(txt2img)
    text = "a red circle\nSteps: 6, Sampler: Euler, Seed: 7, Size: 16x16, DeepCache interval: 2"
    updates, _ = txt2img_updates(services, text, step_cache=txt2img.step_cache)
    assert len(updates) == len(outputs)
    assert outputs[-2:] == txt2img.step_cache.ordered()
    assert [u.get("value") for u in updates[-2:]] == [DEEPCACHE, 2]


def test_send_to_img2img_restores_the_cache_a_picture_was_made_with():
    from PIL import Image

    from modules.core.infotext import parse_infotext
    from modules.core.request_infotext import request_fields_from_infotext
    from modules.ui.img2img import Img2ImgTab, SendToImg2Img

    components = {name: object() for name in ("subtabs", "tab", "init_img", "inpaint", "inpaint_options", "prompt",
                                              "negative_prompt", "sampler", "schedule_type", "steps", "cfg_scale",
                                              "width", "height", "checkpoint", "vae")}
    panel = StepCachePanel(object(), object())
    sending = SendToImg2Img(Img2ImgTab(**components, step_cache=panel), object(), "img2img")
    params = {"Steps": 8, "Sampler": "Euler", "Seed": 3, "Size": "16x16", "Step cache": "FirstBlockCache"}
    parsed = parse_infotext(format_infotext("a red circle", "", params))
    values = request_fields_from_infotext(parsed.prompt, parsed.negative_prompt, parsed.params)
    updates = sending.updates(Image.new("RGB", (16, 16)), values)
    assert len(updates) == len(sending.outputs())
    restored = dict(zip(map(id, sending.outputs()), updates))
    assert restored[id(panel.choice)]["value"] == "FirstBlockCache"
