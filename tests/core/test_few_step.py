"""Few-step models (LCM, TCD, Lightning/Hyper-SD/Turbo): their samplers and schedules, and no unguided UNet
pass at CFG scale 1, counted on tiny random models."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from diffusers import ControlNetModel, EulerDiscreteScheduler, UNet2DConditionModel
from PIL import Image, ImageDraw

from modules.core.infotext import parse_infotext
from modules.core.requests import ControlUnit, GenerationRequest
from modules.core.validation import validate
from modules.engine.generation import generate
from training.demo_model import NOISE_SCHEDULE

BASE = GenerationRequest(prompt="a red circle", negative_prompt="blue", width=32, height=32, steps=4, seed=3,
                         cfg_scale=1.0, sampler="LCM", checkpoint="tiny-a")


@pytest.fixture
def unet_calls(monkeypatch) -> list[int]:
    """The batch size of every UNet forward call (a CFG step runs one call of twice the batch)."""
    calls: list[int] = []
    original = UNet2DConditionModel.forward

    def counting(self, sample, *args, **kwargs):
        calls.append(sample.shape[0])
        return original(self, sample, *args, **kwargs)

    monkeypatch.setattr(UNet2DConditionModel, "forward", counting)
    return calls


def run(manager, samplers, request):
    return generate(validate(request, samplers=samplers), manager, samplers)


def test_lcm_at_4_steps_and_cfg_1_makes_exactly_4_unguided_unet_calls(manager, samplers, unet_calls):
    result = run(manager, samplers, BASE)
    assert np.asarray(result.images[0]).std() > 0
    assert unet_calls == [1, 1, 1, 1]


def test_cfg_above_1_runs_the_unguided_pass_in_the_same_call(manager, samplers, unet_calls):
    run(manager, samplers, replace(BASE, cfg_scale=7.0))
    assert unet_calls == [2, 2, 2, 2]  # the check above can fail: the counter sees guidance


def test_prompt_editing_at_cfg_1_adds_no_unguided_pass(manager, samplers, unet_calls):
    # Prompt editing swaps the embeddings in the step callback: it must hand over a batch without negatives.
    result = run(manager, samplers, replace(BASE, prompt="a [red:blue:2] circle", sampler="Euler"))
    assert unet_calls == [1, 1, 1, 1]
    assert len(result.images) == 1


def test_controlnet_at_cfg_1_adds_no_unguided_pass(cn_models_dir, cpu_fp32, tmp_path, samplers, unet_calls,
                                                    monkeypatch):
    from modules.engine.models.manager import ModelManager

    cn_calls: list[int] = []
    original = ControlNetModel.forward

    def counting(self, sample, *args, **kwargs):
        cn_calls.append(sample.shape[0])
        return original(self, sample, *args, **kwargs)

    monkeypatch.setattr(ControlNetModel, "forward", counting)
    manager = ModelManager(checkpoints_dir=cn_models_dir / "Stable-diffusion", vae_dir=cn_models_dir / "VAE",
                           cache_file=tmp_path / "c.json", device=cpu_fp32, controlnet_dir=cn_models_dir / "ControlNet")
    manager.refresh()
    picture = Image.new("RGB", (32, 32))
    ImageDraw.Draw(picture).ellipse((6, 6, 26, 26), outline=(255, 255, 255), width=2)
    run(manager, samplers, replace(BASE, control_units=(ControlUnit(image=picture, model="tiny-cn"),)))
    assert unet_calls == [1, 1, 1, 1]
    assert cn_calls == [1, 1, 1, 1]


def test_tcd_makes_a_picture_in_4_steps_and_its_gamma_matters(manager, samplers, unet_calls):
    default = run(manager, samplers, replace(BASE, sampler="TCD"))
    assert unet_calls == [1, 1, 1, 1]
    noisier = run(manager, samplers, replace(BASE, sampler="TCD", eta_ddim=0.9))
    assert not np.array_equal(np.asarray(default.images[0]), np.asarray(noisier.images[0]))
    assert parse_infotext(noisier.infotexts[0]).params["Eta DDIM"] == "0.9"  # it reproduces
    assert "Eta DDIM" not in parse_infotext(default.infotexts[0]).params


@pytest.mark.parametrize("steps", [1, 2, 4, 8, 25])
def test_sgm_uniform_timesteps_equal_diffusers_trailing(samplers, steps):
    config = EulerDiscreteScheduler(**NOISE_SCHEDULE).config
    ours = samplers.make_scheduler("Euler", "SGM Uniform", config)
    trailing = EulerDiscreteScheduler.from_config(config, timestep_spacing="trailing")
    ours.set_timesteps(steps)
    trailing.set_timesteps(steps)
    assert torch.equal(ours.timesteps, trailing.timesteps)
    # And A1111's own rule, linspace(999, 0, n + 1)[:-1], to within A1111's fractional timesteps.
    a1111 = np.linspace(999, 0, steps + 1)[:-1]
    assert np.abs(ours.timesteps.numpy() - a1111).max() <= 1.0


def test_a1111_simple_normal_and_ddim_schedules(samplers):
    config = EulerDiscreteScheduler(**NOISE_SCHEDULE).config
    timesteps = {}
    for label in ("Simple", "Normal", "DDIM"):
        scheduler = samplers.make_scheduler("Euler", label, config)
        scheduler.set_timesteps(4)
        timesteps[label] = scheduler.timesteps.round().int().tolist()
    assert timesteps["Simple"] == [999, 749, 499, 249]  # A1111: sigmas[-(1 + int(x * 1000 / n))]
    assert timesteps["Normal"] == [999, 666, 333, 0]  # A1111: linspace(t_max, t_min, n)
    assert timesteps["DDIM"] == [751, 501, 251, 1]  # A1111: 1, 1 + 1000 // n, ... reversed


@pytest.mark.parametrize(("sampler", "schedule"), [("LCM", "Automatic"), ("TCD", "Automatic"),
                                                   ("Euler", "SGM Uniform"), ("DPM++ 2M", "Simple"),
                                                   ("Euler", "DDIM"), ("Euler", "Normal")])
def test_few_step_names_round_trip_through_the_infotext(manager, samplers, sampler, schedule):
    result = run(manager, samplers, replace(BASE, sampler=sampler, schedule_type=schedule, steps=2))
    params = parse_infotext(result.infotexts[0]).params
    assert (params["Sampler"], params["Schedule type"]) == (sampler, schedule)
    spec, parsed = samplers.resolve_with_schedule(params["Sampler"], params["Schedule type"])
    assert (spec.name, parsed) == (sampler, schedule)
