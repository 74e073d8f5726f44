"""The hires accordion's form -> request fields, and the Extras tab's picture sources."""

from __future__ import annotations

import pytest
from PIL import Image

from modules.core.requests import RequestError
from modules.ui.extras_tab import BATCH, FOLDER, SINGLE, pictures_for
from modules.ui.hires_panel import SAME_CHECKPOINT, SAME_SAMPLER, SAME_SCHEDULE, HiresPanel

NAMES = ("enable", "upscaler", "steps", "denoising", "scale", "resize_x", "resize_y", "checkpoint", "sampler",
         "schedule", "cfg", "prompt", "negative")


def form(**values):
    panel = HiresPanel({name: object() for name in NAMES})
    base = dict(enable=True, upscaler="Latent", steps=0, denoising=0.7, scale=2, resize_x=0, resize_y=0,
                checkpoint=SAME_CHECKPOINT, sampler=SAME_SAMPLER, schedule=SAME_SCHEDULE, cfg=7.0, prompt="",
                negative="")
    base.update(values)
    return panel, {panel.components[name]: value for name, value in base.items()}


def test_hires_off_adds_nothing():
    panel, data = form(enable=False, scale=3)
    assert panel.fields(data, 7.0) == {}


def test_use_same_choices_mean_the_first_pass():
    panel, data = form()
    fields = panel.fields(data, 7.0)
    assert fields["enable_hr"] and fields["hr_scale"] == 2 and fields["denoising_strength"] == 0.7
    assert fields["hr_sampler"] == "" and fields["hr_schedule_type"] == "" and fields["hr_checkpoint"] == ""
    assert fields["hr_cfg"] is None


def test_chosen_values_pass_through():
    panel, data = form(sampler="DDIM", schedule="Karras", checkpoint="tiny-b", cfg=4.0, prompt="big")
    fields = panel.fields(data, 7.0)
    assert (fields["hr_sampler"], fields["hr_schedule_type"], fields["hr_checkpoint"], fields["hr_cfg"],
            fields["hr_prompt"]) == ("DDIM", "Karras", "tiny-b", 4.0, "big")


def test_extras_sources(tmp_path):
    with pytest.raises(RequestError, match="Upload a picture"):
        pictures_for(SINGLE, None, None, "", True)
    for i in range(2):
        Image.new("RGB", (4, 4), "red").save(tmp_path / f"{i}.png")
    (tmp_path / "notes.txt").write_text("not a picture")
    images, names = pictures_for(FOLDER, None, None, str(tmp_path), True)
    assert names == ["0.png", "1.png"] and images[0].size == (4, 4)
    with pytest.raises(RequestError, match="without accounts"):
        pictures_for(FOLDER, None, None, str(tmp_path), False)
    images, names = pictures_for(BATCH, None, [str(tmp_path / "1.png")], "", False)
    assert names == ["1.png"]
    with pytest.raises(RequestError, match="not a picture"):
        pictures_for(BATCH, None, [str(tmp_path / "notes.txt")], "", False)


def _services(checkpoints=()):
    from types import SimpleNamespace

    from modules.engine.samplers import SamplerRegistry
    from modules.engine.upscaling import UpscalerRegistry

    found = {name: SimpleNamespace(title=f"{name} [abc]", usable=True) for name in checkpoints}
    checkpoints = SimpleNamespace(find=found.get, usable=lambda: list(found.values()))
    return SimpleNamespace(samplers=SamplerRegistry.default(), upscalers=UpscalerRegistry(),
                           models=SimpleNamespace(checkpoints=checkpoints))


def test_infotext_hires_fields_fill_the_panel_and_read_back_the_same():
    """PNG Info / History "Send to txt2img": A1111's hires infotext fills the accordion so that generating
    again asks for the same second pass."""
    from modules.core.infotext import parse_infotext
    from modules.core.request_infotext import request_fields_from_infotext

    text = ("a fox\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, Size: 64x64, Denoising strength: 0.45, "
            "Hires upscale: 1.5, Hires steps: 12, Hires upscaler: Latent (nearest-exact), Hires CFG Scale: 4, "
            'Hires sampler: DPM++ 2M, Hires schedule type: Karras, Hires prompt: "a big fox", Hires checkpoint: tiny-b')
    info = parse_infotext(text)
    values = request_fields_from_infotext(info.prompt, info.negative_prompt, info.params)
    panel, _ = form()
    updates, note = panel.updates_from(_services(["tiny-b"]), values)
    assert note == ""
    data = {component: update["value"] for component, update in zip(panel.ordered(), updates)}
    assert panel.fields(data, 7.0) == dict(
        enable_hr=True, hr_upscaler="Latent (nearest-exact)", hr_scale=1.5, hr_second_pass_steps=12,
        denoising_strength=0.45, hr_resize_x=0, hr_resize_y=0, hr_cfg=4.0, hr_sampler="DPM++ 2M",
        hr_schedule_type="Karras", hr_checkpoint="tiny-b [abc]", hr_prompt="a big fox", hr_negative_prompt="")


def test_infotext_without_hires_switches_it_off_and_unknowns_are_named():
    panel, _ = form()
    updates, note = panel.updates_from(_services(), {"cfg_scale": 7.0})
    assert updates[0]["value"] is False and all("value" not in u for u in updates[1:])
    updates, note = panel.updates_from(_services(), {"enable_hr": True, "hr_upscaler": "4x-Nowhere",
                                                     "hr_checkpoint": "gone", "hr_sampler": "Nope"})
    assert "4x-Nowhere" in note and "gone" in note and "Nope" in note
    values = dict(zip(NAMES, (u.get("value") for u in updates)))
    assert values["upscaler"] is None and values["checkpoint"] == SAME_CHECKPOINT and values["sampler"] == SAME_SAMPLER


def test_numbers_outside_the_sliders_are_named_not_sent_and_dropdowns_get_fresh_choices():
    from types import SimpleNamespace

    services = _services(["tiny-b"])
    services.models.checkpoints.usable = lambda: [SimpleNamespace(title="tiny-b [abc]")]
    panel, _ = form()
    updates, note = panel.updates_from(services, {"enable_hr": True, "hr_second_pass_steps": 400, "hr_scale": 8.0,
                                                  "hr_checkpoint": "tiny-b", "hr_sampler": "DPM++ 2M Karras"})
    by_name = dict(zip(NAMES, updates))
    assert "Hires steps 400" in note and "Hires upscale 8" in note
    assert "value" not in by_name["steps"] and "value" not in by_name["scale"]
    # A1111's pre-1.9 name carries its schedule; the checkpoint's title (with its hash) is among the choices sent.
    assert by_name["sampler"]["value"] == "DPM++ 2M" and by_name["schedule"]["value"] == "Karras"
    assert by_name["checkpoint"]["value"] in by_name["checkpoint"]["choices"]
    assert by_name["upscaler"]["choices"][0] == "Latent"
