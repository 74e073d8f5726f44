"""txt2img through the real core on tiny random models."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from modules.core.infotext import parse_infotext
from modules.core.requests import GenerationRequest
from modules.core.results import JobControl
from modules.engine.generation import generate

BASE = GenerationRequest(prompt="a red circle", negative_prompt="blue", width=16, height=16, steps=4, seed=42,
                         cfg_scale=5.0, checkpoint="tiny-a")


def pixels(image) -> np.ndarray:
    return np.asarray(image, dtype=np.int16)


@pytest.mark.parametrize("sampler", ["Euler a", "Euler", "DPM++ 2M", "DDIM", "UniPC", "DPM++ SDE", "PLMS", "Heun"])
def test_samplers_make_images(manager, samplers, sampler):
    result = generate(replace(BASE, sampler=sampler), manager, samplers)
    assert len(result.images) == 1
    assert result.images[0].size == (16, 16)
    assert pixels(result.images[0]).std() > 0  # not a flat (NaN -> black) picture
    assert f"Sampler: {sampler}" in result.infotexts[0]


def test_same_request_same_pixels_and_seed_matters(manager, samplers):
    first = generate(BASE, manager, samplers).images[0]
    again = generate(BASE, manager, samplers).images[0]
    other = generate(replace(BASE, seed=43), manager, samplers).images[0]
    assert np.array_equal(pixels(first), pixels(again))
    assert not np.array_equal(pixels(first), pixels(other))


def test_batch_image_equals_single_image_with_its_seed(manager, samplers):
    batch = generate(replace(BASE, batch_size=2, batch_count=2, sampler="Euler"), manager, samplers)
    assert batch.seeds == [42, 43, 44, 45]
    single = generate(replace(BASE, seed=44, sampler="Euler"), manager, samplers)
    assert np.abs(pixels(batch.images[2]) - pixels(single.images[0])).max() <= 1


def test_random_seed_is_resolved_and_recorded(manager, samplers):
    result = generate(replace(BASE, seed=-1), manager, samplers)
    assert result.seeds[0] >= 0
    assert parse_infotext(result.infotexts[0]).params["Seed"] == str(result.seeds[0])


def test_variation_seed_changes_picture_a_little(manager, samplers):
    base = generate(replace(BASE, subseed=7, subseed_strength=0.0), manager, samplers).images[0]
    varied = generate(replace(BASE, subseed=7, subseed_strength=0.3), manager, samplers)
    assert not np.array_equal(pixels(base), pixels(varied.images[0]))
    assert "Variation seed: 7" in varied.infotexts[0]


def test_interrupt_stops_at_next_step_and_keeps_the_picture(manager, samplers):
    seen = []
    control = JobControl()

    def on_step(info):
        seen.append(info.step)
        if info.step == 2:
            control.interrupt.set()

    control.on_step = on_step
    result = generate(replace(BASE, steps=10, batch_count=3), manager, samplers, control)
    assert result.interrupted
    assert len(result.images) == 1  # later batches never started
    assert max(seen) < 10


def test_an_interrupt_before_the_first_step_runs_no_batch(manager, samplers):
    control = JobControl()
    steps = []
    control.on_step = lambda info: steps.append(info.step)
    control.interrupt.set()  # e.g. pressed while the checkpoint was loading
    result = generate(replace(BASE, steps=10, batch_count=3), manager, samplers, control)
    assert result.interrupted and result.images == [] and steps == []


def test_skip_drops_current_batch_only(manager, samplers):
    control = JobControl()
    batches = []

    def on_step(info):
        batches.append(info.batch_index)
        if info.batch_index == 0 and info.step == 1:
            control.skip.set()

    control.on_step = on_step
    result = generate(replace(BASE, steps=6, batch_count=2), manager, samplers, control)
    assert not result.interrupted
    assert len(result.images) == 2
    assert batches.count(1) == 6  # the second batch ran all its steps


def test_previews_are_reported(manager, samplers):
    previews = []
    control = JobControl(preview_every=2, on_step=lambda info: previews.append(info.preview))
    generate(replace(BASE, steps=6), manager, samplers, control)
    assert any(p is not None for p in previews)


def test_infotext_names_model_and_hash(manager, samplers):
    result = generate(BASE, manager, samplers)
    params = parse_infotext(result.infotexts[0]).params
    info = manager.resolve("tiny-a")
    assert params["Model"] == "tiny-a"
    assert params["Model hash"] == info.short_hash and len(info.short_hash) == 10
    assert params["Size"] == "16x16" and params["Steps"] == "4" and params["CFG scale"] == "5"


def test_checkpoint_is_per_request(manager, samplers):
    a = generate(BASE, manager, samplers).images[0]
    b = generate(replace(BASE, checkpoint="tiny-b"), manager, samplers).images[0]
    a_again = generate(BASE, manager, samplers).images[0]
    assert not np.array_equal(pixels(a), pixels(b))
    assert np.array_equal(pixels(a), pixels(a_again))


def test_clip_skip_and_weighted_prompt_run(manager, samplers):
    plain = generate(replace(BASE, clip_skip=1), manager, samplers).images[0]
    skipped = generate(replace(BASE, clip_skip=2), manager, samplers)
    assert "Clip skip: 2" in skipped.infotexts[0]
    assert not np.array_equal(pixels(plain), pixels(skipped.images[0]))
    weighted = generate(replace(BASE, prompt="a (red:1.4) circle"), manager, samplers).images[0]
    assert not np.array_equal(pixels(plain), pixels(weighted))


def test_prompt_editing_switches_embeddings(manager, samplers):
    plain = generate(replace(BASE, prompt="a red circle", steps=6), manager, samplers).images[0]
    edited = generate(replace(BASE, prompt="a [red:blue:0.5] circle", steps=6), manager, samplers).images[0]
    blue = generate(replace(BASE, prompt="a blue circle", steps=6), manager, samplers).images[0]
    assert not np.array_equal(pixels(plain), pixels(edited))
    assert not np.array_equal(pixels(blue), pixels(edited))


def test_lora_tag_is_reported_not_fatal(manager, samplers):
    result = generate(replace(BASE, prompt="a red circle <lora:missing:0.8>"), manager, samplers)
    assert len(result.images) == 1
    assert any("missing" in w for w in result.warnings)
    assert "<lora:missing:0.8>" in result.infotexts[0]  # the infotext keeps what the user wrote


def test_sde_batch_image_reproduces_alone(manager, samplers):
    batch = generate(replace(BASE, batch_size=2, sampler="DPM++ SDE"), manager, samplers)
    single = generate(replace(BASE, seed=43, sampler="DPM++ SDE"), manager, samplers)
    assert np.abs(pixels(batch.images[1]) - pixels(single.images[0])).max() <= 1
