"""ControlNet units on tiny random models: residual scaling, step range, control modes, several units,
family refusal, and every generation mode."""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from modules.core.requests import ControlUnit, GenerationRequest, RequestError
from modules.core.validation import validate
from modules.engine.controlnet.apply import ActiveControl, ControlledUNet
from modules.engine.generation import generate
from modules.service.runner import Processor


@pytest.fixture
def cn_manager(cn_models_dir, cpu_fp32, tmp_path):
    from modules.engine.models.manager import ModelManager

    manager = ModelManager(checkpoints_dir=cn_models_dir / "Stable-diffusion", vae_dir=cn_models_dir / "VAE",
                           cache_file=tmp_path / "c.json", device=cpu_fp32, controlnet_dir=cn_models_dir / "ControlNet")
    manager.refresh()
    return manager


def scribble(size: int = 32) -> Image.Image:
    image = Image.new("RGB", (size, size))
    ImageDraw.Draw(image).ellipse((6, 6, size - 6, size - 6), outline=(255, 255, 255), width=2)
    return image


BASE = GenerationRequest(prompt="a red circle", width=32, height=32, steps=4, seed=7, sampler="Euler")


def run(manager, samplers, request):
    return generate(validate(request, samplers=samplers), manager, samplers)


def pixels(result) -> np.ndarray:
    return np.asarray(result.images[0], dtype=np.int16)


def test_registry_reads_families(cn_manager):
    found = {i.name: i for i in cn_manager.controlnets}
    assert set(found) == {"tiny-cn", "tiny-cn2", "sd15-cn"}
    assert found["tiny-cn"].family == "custom-32" and found["sd15-cn"].family == "sd1"
    assert cn_manager.find_controlnet("tiny-cn [abc123]").name == "tiny-cn"
    with pytest.raises(LookupError, match="Available: .*tiny-cn"):
        cn_manager.find_controlnet("nope")


def test_unit_steers_and_weight_zero_is_the_plain_picture(cn_manager, samplers):
    plain = pixels(run(cn_manager, samplers, BASE))
    unit = ControlUnit(image=scribble(), model="tiny-cn")
    steered = run(cn_manager, samplers, replace(BASE, control_units=(unit,)))
    assert np.abs(pixels(steered) - plain).mean() > 1.0
    assert 'ControlNet 0: "Module: none, Model: tiny-cn, Weight: 1' in steered.info
    zero = run(cn_manager, samplers, replace(BASE, control_units=(replace(unit, weight=0.0),)))
    assert np.array_equal(pixels(zero), plain)
    disabled = run(cn_manager, samplers, replace(BASE, control_units=(replace(unit, enabled=False),)))
    assert np.array_equal(pixels(disabled), plain) and "ControlNet" not in disabled.info


def test_two_units_together_differ_from_each_alone(cn_manager, samplers):
    a = ControlUnit(image=scribble(), model="tiny-cn")
    b = ControlUnit(image=scribble(), model="tiny-cn2", module="invert")
    one = pixels(run(cn_manager, samplers, replace(BASE, control_units=(a,))))
    other = pixels(run(cn_manager, samplers, replace(BASE, control_units=(b,))))
    both = run(cn_manager, samplers, replace(BASE, control_units=(a, b)))
    assert np.abs(pixels(both) - one).mean() > 0.5 and np.abs(pixels(both) - other).mean() > 0.5
    assert "ControlNet 1: " in both.info


def test_units_in_img2img_and_nine_channel_inpaint(cn_manager, samplers, inpaint_manager):
    picture = Image.new("RGB", (32, 32), (40, 90, 200))
    ImageDraw.Draw(picture).rectangle((10, 10, 22, 22), fill=(230, 30, 30))
    unit = ControlUnit(image=None, model="tiny-cn", module="canny")  # None: the img2img input is the control
    img2img = replace(BASE, mode="img2img", init_images=(picture,), denoising_strength=0.6)
    plain = pixels(run(cn_manager, samplers, img2img))
    steered = run(cn_manager, samplers, replace(img2img, control_units=(unit,)))
    assert steered.images[0].size == (32, 32) and "Module: canny" in steered.info
    assert np.abs(pixels(steered) - plain).mean() > 0.5
    mask = Image.new("L", (32, 32))
    ImageDraw.Draw(mask).rectangle((8, 8, 24, 24), fill=255)
    inpaint_manager.controlnet_dir = cn_manager.controlnet_dir
    inpaint_manager.refresh()
    # tiny-inpaint has a 9-channel UNet; the ControlNet (4 channels) sees the latents only.
    request = replace(BASE, mode="inpaint", checkpoint="tiny-inpaint", init_images=(picture,), mask=mask,
                      control_units=(ControlUnit(image=scribble(), model="tiny-cn"),))
    result = run(inpaint_manager, samplers, request)
    assert result.images[0].size == (32, 32)


def test_wrong_family_and_missing_model_are_refused_before_queueing(cn_manager, samplers, tmp_path):
    from modules.service.outputs import OutputStore

    processor = Processor(models=cn_manager, samplers=samplers, outputs=OutputStore(tmp_path / "out"))
    wrong = replace(BASE, control_units=(ControlUnit(image=scribble(), model="sd15-cn"),))
    with pytest.raises(RequestError, match=r"sd15-cn is for SD 1\.x models, but the checkpoint tiny-a is"):
        processor.check(wrong)
    with pytest.raises(RequestError, match="ControlNet unit 1: .*'nope' not found"):
        processor.check(replace(BASE, control_units=(ControlUnit(image=scribble(), model="nope"),)))


def test_unit_validation_messages():
    with pytest.raises(RequestError, match="has no model"):
        validate(replace(BASE, control_units=(ControlUnit(image=scribble()),)))
    with pytest.raises(RequestError, match="no control image"):
        validate(replace(BASE, control_units=(ControlUnit(model="m"),)))
    with pytest.raises(RequestError, match="weight must be between 0 and 2"):
        validate(replace(BASE, control_units=(ControlUnit(image=scribble(), model="m", weight=3),)))
    with pytest.raises(RequestError, match="start <= end"):
        validate(replace(BASE, control_units=(ControlUnit(image=scribble(), model="m", guidance_start=0.8,
                                                           guidance_end=0.2),)))
    ok = validate(replace(BASE, control_units=(ControlUnit(image=scribble(), model="m", control_mode="ControlNet is "
                                                           "more important", resize_mode="Just Resize"),
                                               ControlUnit(enabled=False))))
    assert len(ok.control_units) == 1 and ok.control_units[0].control_mode == 2 and ok.control_units[0].resize_mode == 0


# ------------------------------------------------------------------ the wrapper, with fakes that record


class FakeControlNet:
    def __init__(self, value: float) -> None:
        self.value = value
        self.config = SimpleNamespace(in_channels=4)
        self.dtype = torch.float32
        self.calls = []

    def __call__(self, x, t, encoder_hidden_states, controlnet_cond, conditioning_scale, return_dict, **kw):
        self.calls.append(x.shape[0])
        down = [torch.full((x.shape[0], 1, 2, 2), self.value) for _ in range(3)]
        return down, torch.full((x.shape[0], 1, 1, 1), self.value)


class FakeUNet:
    dtype = torch.float32
    config = SimpleNamespace(in_channels=4)

    def __init__(self) -> None:
        self.kwargs = None

    def __call__(self, sample, timestep, encoder_hidden_states, **kwargs):
        self.kwargs = kwargs
        return "out"


def wrapped(controls, cfg=True):
    unet = FakeUNet()
    pipe = SimpleNamespace(do_classifier_free_guidance=cfg)
    return unet, ControlledUNet(unet, pipe, controls)


def active(model, weight=1.0, start=0.0, end=1.0, mode=0):
    return ActiveControl("m", model, Image.new("RGB", (4, 4)), weight, start, end, mode)


def call(wrapper, batch=2):
    return wrapper(torch.zeros(batch, 4, 2, 2), torch.tensor(1), torch.zeros(batch, 3, 8))


def test_balanced_scales_every_layer_by_the_weight():
    unet, wrapper = wrapped([active(FakeControlNet(1.0), weight=0.5)])
    assert call(wrapper) == "out" and wrapper.config.in_channels == 4  # the real UNet's attributes show through
    residuals = unet.kwargs["down_block_additional_residuals"] + [unet.kwargs["mid_block_additional_residual"]]
    assert all(torch.all(r == 0.5) for r in residuals)


def test_prompt_more_important_softens_shallow_layers():
    unet, wrapper = wrapped([active(FakeControlNet(1.0), mode=1)])
    call(wrapper)
    firsts = [float(r.flatten()[0]) for r in unet.kwargs["down_block_additional_residuals"]]
    mid = float(unet.kwargs["mid_block_additional_residual"].flatten()[0])
    # sd-webui-controlnet's exponents: 12, 11, ... from the shallowest output (here 3 outputs and the middle).
    assert firsts == sorted(firsts) and firsts[0] == pytest.approx(0.825 ** 12) and mid == pytest.approx(0.825 ** 9)


def test_controlnet_more_important_steers_the_prompt_half_only():
    model = FakeControlNet(1.0)
    unet, wrapper = wrapped([active(model, mode=2)])
    call(wrapper, batch=4)
    assert model.calls == [2]  # the ControlNet ran on the conditional half only
    mid = unet.kwargs["mid_block_additional_residual"]
    assert torch.all(mid[:2] == 0) and torch.all(mid[2:] > 0)


def test_units_act_only_between_start_and_end_and_add_up():
    a, b = FakeControlNet(1.0), FakeControlNet(2.0)
    unet, wrapper = wrapped([active(a, start=0.0, end=0.3), active(b, start=0.5, end=1.0)])
    seen = []
    for step in range(10):
        wrapper.fraction = step / 10
        call(wrapper)
        mid = unet.kwargs.get("mid_block_additional_residual")
        seen.append(None if mid is None else float(mid.flatten()[0]))
    assert seen == [1.0] * 4 + [None] + [2.0] * 5
    both_model = [active(FakeControlNet(1.0)), active(FakeControlNet(2.0))]
    unet, wrapper = wrapped(both_model)
    call(wrapper)
    assert torch.all(unet.kwargs["mid_block_additional_residual"] == 3.0)


@pytest.mark.parametrize("sampler", ["Euler", "Heun", "PLMS"])
def test_start_and_end_follow_the_sampling_whatever_the_sampler(cn_manager, samplers, sampler, monkeypatch):
    """Heun evaluates twice per step and PLMS once more than the steps: the unit's range is still a fraction
    of the sampling, not of the UNet calls."""
    calls = []
    original = ControlledUNet._residuals

    def counting(self, control, *args):
        calls.append(self.fraction)
        return original(self, control, *args)

    monkeypatch.setattr(ControlledUNet, "_residuals", counting)
    unit = ControlUnit(image=scribble(), model="tiny-cn", guidance_start=0.0, guidance_end=0.5)
    run(cn_manager, samplers, replace(BASE, sampler=sampler, steps=8, control_units=(unit,)))
    assert calls and max(calls) <= 0.5
    total = {"Euler": 8, "Heun": 15, "PLMS": 9}[sampler]  # UNet calls the sampler makes for 8 steps
    assert total // 2 <= len(calls) <= total // 2 + 2, (sampler, calls)


def test_the_real_unet_is_back_after_an_error_inside_the_call(cn_manager, samplers):
    from modules.engine.controlnet.apply import attached

    loaded = cn_manager.load(cn_manager.resolve(None))
    unet = loaded.pipe.unet
    with pytest.raises(ZeroDivisionError):
        with attached(loaded.pipe, [active(FakeControlNet(1.0))]):
            assert isinstance(loaded.pipe.unet, ControlledUNet)
            raise ZeroDivisionError
    assert loaded.pipe.unet is unet


@pytest.mark.parametrize("option, sizes", [("Both", {32, 64}), ("Low res only", {32}), ("High res only", {64})])
def test_units_act_in_the_hires_pass_at_its_size(cn_manager, samplers, monkeypatch, option, sizes):
    """As sd-webui-controlnet: a unit acts in both passes of the hires fix (its picture preprocessed again at the
    second pass's size) unless its Hires-Fix Option keeps it to one."""
    seen = []
    original = ControlledUNet._residuals

    def recording(self, control, *args):
        seen.append(control.image.size)
        return original(self, control, *args)

    monkeypatch.setattr(ControlledUNet, "_residuals", recording)
    unit = ControlUnit(image=scribble(), model="tiny-cn", hr_option=option)
    request = replace(BASE, enable_hr=True, hr_scale=2.0, hr_upscaler="Latent", denoising_strength=0.6,
                      hr_second_pass_steps=4, control_units=(unit,))
    result = run(cn_manager, samplers, request)
    assert {w for w, h in seen} == sizes and all(w == h for w, h in seen)
    assert result.images[0].size == (64, 64)
    assert f"Hr Option: {option}" in result.info
    assert "Hr Option" not in run(cn_manager, samplers, replace(BASE, control_units=(unit,))).info


def test_hires_option_is_checked_by_name_or_index():
    unit = ControlUnit(image=scribble(), model="tiny-cn", hr_option="high RES only")
    assert validate(replace(BASE, control_units=(unit,))).control_units[0].hr_option == 2
    with pytest.raises(RequestError, match="hires-fix option must be one of 0 \\(Both\\)"):
        validate(replace(BASE, control_units=(replace(unit, hr_option="sometimes"),)))
