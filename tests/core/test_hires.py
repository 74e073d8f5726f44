"""Hires. fix end to end on tiny random models: sizes, A1111's fields, reproducibility, progress, interrupt."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from modules.core.infotext import parse_infotext
from modules.core.request_infotext import request_fields_from_infotext
from modules.core.requests import GenerationRequest, Limits, RequestError
from modules.core.validation import validate
from modules.core.results import JobControl
from modules.engine import hires
from modules.engine.generation import generate
from modules.engine.upscaling import UpscalerRegistry

BASE = GenerationRequest(prompt="a red circle", negative_prompt="blue", width=16, height=16, steps=4, seed=42,
                         cfg_scale=5.0, checkpoint="tiny-a", sampler="Euler", enable_hr=True,
                         hr_upscaler="Latent", denoising_strength=0.5)


def pixels(image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=np.int16)


def test_hires_doubles_the_picture_and_writes_a1111_fields(manager, samplers):
    result = generate(BASE, manager, samplers)
    assert result.images[0].size == (32, 32)
    params = parse_infotext(result.infotexts[0]).params
    assert params["Size"] == "16x16"  # A1111 records the first pass's size
    assert params["Hires upscale"] == "2"
    assert params["Hires upscaler"] == "Latent"
    assert params["Denoising strength"] == "0.5"
    assert "Hires steps" not in params and "Hires sampler" not in params  # only what differs is written


def test_off_by_default_and_the_picture_differs_with_it(manager, samplers):
    plain = generate(replace(BASE, enable_hr=False), manager, samplers)
    assert plain.images[0].size == (16, 16)
    assert "Hires" not in plain.infotexts[0]


@pytest.mark.parametrize("upscaler", ["Lanczos", "Nearest", "None", "Latent (bicubic antialiased)",
                                      "Latent (nearest-exact)"])
def test_every_kind_of_upscaler_reaches_the_target_size(manager, samplers, upscaler):
    result = generate(replace(BASE, hr_upscaler=upscaler, hr_scale=1.5), manager, samplers)
    assert result.images[0].size == (24, 24)
    assert f"Hires upscaler: {upscaler}" in result.infotexts[0]


def test_resize_to_both_sides_keeps_the_middle(manager, samplers):
    result = generate(replace(BASE, width=16, height=24, hr_resize_x=32, hr_resize_y=32, hr_upscaler="Lanczos"),
                      manager, samplers)
    assert result.images[0].size == (32, 32)
    assert "Hires resize: 32x32" in result.infotexts[0]
    one_side = generate(replace(BASE, width=16, height=24, hr_resize_x=32), manager, samplers)
    assert one_side.images[0].size == (32, 48)


def test_same_request_same_picture_and_batches_match_singles(manager, samplers):
    first = generate(BASE, manager, samplers).images[0]
    again = generate(BASE, manager, samplers).images[0]
    assert np.array_equal(pixels(first), pixels(again))
    batch = generate(replace(BASE, batch_size=2), manager, samplers)
    single = generate(replace(BASE, seed=43), manager, samplers)
    assert np.abs(pixels(batch.images[1]) - pixels(single.images[0])).max() <= 1


def test_hires_steps_run_exactly_and_progress_covers_both_passes(manager, samplers):
    seen = []
    control = JobControl(on_step=seen.append)
    generate(replace(BASE, steps=4, hr_second_pass_steps=3, denoising_strength=0.7, batch_count=2), manager,
             samplers, control)
    per_batch = [info for info in seen if info.batch_index == 0]
    assert [info.step for info in per_batch] == [1, 2, 3, 4, 5, 6, 7]  # 4 first-pass steps, then exactly 3
    assert {info.steps for info in seen} == {7}
    assert seen[-1].fraction == pytest.approx(1.0)
    fractions = [info.fraction for info in seen]
    assert fractions == sorted(fractions)


@pytest.mark.parametrize("strength", [0.3, 0.7, 0.999, 1.0])
@pytest.mark.parametrize("steps", [1, 7, 20, 33])
def test_second_pass_schedule_runs_the_asked_steps(steps, strength):
    total, passed = hires.second_pass_steps(steps, strength)
    assert 0 < passed <= 1
    assert min(int(total * passed), total) == steps  # what diffusers' get_timesteps runs


def test_interrupt_in_the_first_pass_returns_the_first_pass_picture(manager, samplers):
    control = JobControl()

    def stop(info):
        if info.step == 2:
            control.interrupt.set()

    control.on_step = stop
    result = generate(BASE, manager, samplers, control)
    assert result.interrupted
    assert [image.size for image in result.images] == [(16, 16)]
    assert any("first-pass pictures" in w for w in result.warnings)


def test_interrupt_in_the_second_pass_returns_a_large_picture(manager, samplers):
    control = JobControl()

    def stop(info):
        if info.step == 5:
            control.interrupt.set()

    control.on_step = stop
    result = generate(replace(BASE, steps=4, hr_second_pass_steps=4), manager, samplers, control)
    assert result.interrupted and result.images[0].size == (32, 32)


def test_infotext_round_trip_gives_the_same_picture(manager, samplers):
    request = replace(BASE, hr_upscaler="Latent (bicubic)", hr_second_pass_steps=3, hr_cfg=3.0,
                      hr_sampler="DPM++ 2M", hr_prompt="a large red circle", hr_scale=1.5)
    result = generate(request, manager, samplers)
    parsed = parse_infotext(result.infotexts[0])
    assert parsed.params["Hires CFG Scale"] == "3"
    assert parsed.params["Hires sampler"] == "DPM++ 2M"
    assert parsed.params["Hires prompt"] == "a large red circle"
    fields = request_fields_from_infotext(parsed.prompt, parsed.negative_prompt, parsed.params)
    fields.pop("checkpoint_hash", None)
    fields["checkpoint"] = "tiny-a"
    rebuilt = validate(GenerationRequest(**fields), Limits(), samplers)
    again = generate(rebuilt, manager, samplers)
    assert again.images[0].size == result.images[0].size
    assert np.array_equal(pixels(again.images[0]), pixels(result.images[0]))


def test_hires_checkpoint_refines_with_another_model(manager, samplers):
    same = generate(BASE, manager, samplers)
    other = generate(replace(BASE, hr_checkpoint="tiny-b"), manager, samplers)
    assert "Hires checkpoint: tiny-b" in other.infotexts[0]
    assert not np.array_equal(pixels(same.images[0]), pixels(other.images[0]))
    # The first model's own VAE and pipeline are back for the next job.
    assert np.array_equal(pixels(generate(BASE, manager, samplers).images[0]), pixels(same.images[0]))


def test_validation_refuses_what_cannot_run(samplers):
    with pytest.raises(RequestError, match="over the limit"):
        validate(replace(BASE, width=512, height=512, hr_scale=4.5), Limits(max_size=2048), samplers)
    with pytest.raises(RequestError, match="between 1 and 8"):
        validate(replace(BASE, hr_scale=0.5), Limits(), samplers)
    with pytest.raises(RequestError, match="Hires upscaler"):
        hires.check(replace(BASE, hr_upscaler="4x-Nothing"), samplers, UpscalerRegistry(), None)
    with pytest.raises(RequestError, match="Hires sampler"):
        hires.check(replace(BASE, hr_sampler="No such sampler"), samplers, UpscalerRegistry(), None)
    # Off: nothing about the hires fields is checked.
    assert validate(replace(BASE, enable_hr=False, hr_scale=100), Limits(), samplers).enable_hr is False
