"""The refiner on tiny random models: the base makes the first steps exactly as without a refiner, the refiner the
rest from where the base stopped; A1111's switch rule, infotext fields, family check and `--models-in-ram 1`."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from modules.core.infotext import parse_infotext
from modules.core.request_infotext import request_fields_from_infotext
from modules.core.requests import GenerationRequest, RequestError
from modules.core.validation import validate
from modules.core.results import JobControl
from modules.engine import refiner
from modules.engine.generation import generate

BASE = GenerationRequest(prompt="a red circle", negative_prompt="blue", width=16, height=16, steps=6, seed=7,
                         cfg_scale=5.0, checkpoint="tiny-a", sampler="Euler a")
REFINED = replace(BASE, refiner_checkpoint="tiny-b", refiner_switch_at=0.5)


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=np.int16)


@pytest.fixture(scope="module")
def other_family_dir(tiny_models_dir, tmp_path_factory):
    """models/ with tiny-a and a tiny checkpoint whose text encoder is wider: another latent family."""
    from tests.fixtures.tiny import save_tiny_pipeline
    from training.demo_model import TINY

    root = tmp_path_factory.mktemp("refiner-models")
    checkpoints = root / "Stable-diffusion"
    checkpoints.mkdir()
    (checkpoints / "tiny-a").symlink_to(tiny_models_dir / "Stable-diffusion" / "tiny-a", target_is_directory=True)
    save_tiny_pipeline(checkpoints / "tiny-wide", seed=3, cfg=replace(TINY, text_width=48))
    (root / "VAE").mkdir()
    return root


@pytest.mark.parametrize(("switch_at", "steps", "base_steps"), [(0.8, 20, 16), (0.5, 6, 3), (0.01, 20, 1),
                                                                 (0.34, 3, 2), (0.99, 20, 20)])
def test_the_switch_follows_a1111s_rule(switch_at, steps, base_steps):
    # A1111 switches at the first step s with s / steps >= switch_at; none left means the refiner never runs.
    assert refiner.switch_step(switch_at, steps) == base_steps


@pytest.mark.parametrize("bad", [1.0, 0.0, -0.5, 2, "soon"])
def test_a_switch_point_outside_0_1_is_refused_with_the_reason(bad):
    with pytest.raises(RequestError, match="Refiner switch at"):
        validate(replace(REFINED, refiner_switch_at=bad))
    # Without a refiner the point does nothing, as in A1111, and "None" is A1111's UI choice for no refiner.
    assert validate(replace(BASE, refiner_switch_at=bad)).refiner_checkpoint == ""
    assert validate(replace(REFINED, refiner_checkpoint="None", refiner_switch_at=bad)).refiner_checkpoint == ""


def _record_unet_calls(manager, name: str, calls: list):
    unet = manager.load(manager.resolve(name)).pipe.unet

    def hook(module, args, kwargs, output):
        calls.append((name, args[0].detach().clone(), kwargs["encoder_hidden_states"].detach().clone()))

    return unet.register_forward_hook(hook, with_kwargs=True)


def test_the_base_makes_the_first_steps_as_without_a_refiner_and_the_refiner_the_rest(manager, samplers):
    plain_calls: list = []
    handle = _record_unet_calls(manager, "tiny-a", plain_calls)
    plain = generate(validate(BASE), manager, samplers)
    handle.remove()
    calls: list = []
    handles = [_record_unet_calls(manager, name, calls) for name in ("tiny-a", "tiny-b")]
    refined = generate(validate(REFINED), manager, samplers)
    for h in handles:
        h.remove()
    assert [name for name, _, _ in calls] == ["tiny-a"] * 3 + ["tiny-b"] * 3
    for (_, sample, context), (_, plain_sample, plain_context) in zip(calls[:3], plain_calls[:3]):
        assert sample.equal(plain_sample) and context.equal(plain_context)
    # The refiner starts from exactly the latents the base left (no new noise), with its own text encoder.
    assert calls[3][1].equal(plain_calls[3][1])
    assert not calls[3][2].equal(plain_calls[3][2])
    assert np.abs(pixels(plain.images[0]) - pixels(refined.images[0])).mean() > 1
    params = parse_infotext(refined.infotexts[0]).params
    assert params["Refiner"].startswith("tiny-b [") and params["Refiner switch at"] == "0.5"
    assert "Refiner" not in plain.infotexts[0]


@pytest.mark.parametrize("sampler", ["Euler a", "DPM++ 2M", "Heun", "DPM++ SDE"])
def test_refining_with_the_checkpoint_itself_is_the_plain_picture(manager, samplers, sampler):
    """The hand-over keeps the sampler's state (multistep history, Brownian tree, ancestral noise): continuing
    on the same model gives the very same picture, bit for bit."""
    request = validate(replace(BASE, sampler=sampler))
    plain = generate(request, manager, samplers)
    same = generate(replace(request, refiner_checkpoint="tiny-a", refiner_switch_at=0.5), manager, samplers)
    assert np.array_equal(pixels(plain.images[0]), pixels(same.images[0]))
    assert any("checkpoint itself" in w for w in same.warnings)


def test_img2img_and_the_hires_pass_are_refined_too(manager, samplers):
    picture = Image.new("RGB", (16, 16), (200, 40, 40))
    img2img = validate(replace(BASE, mode="img2img", init_images=(picture,), denoising_strength=0.7,
                               sampler="DPM++ 2M"))
    hires = validate(replace(BASE, steps=3, enable_hr=True, hr_upscaler="Latent", denoising_strength=0.5,
                             hr_second_pass_steps=4))
    for request in (img2img, hires):
        plain = generate(request, manager, samplers)
        same = generate(replace(request, refiner_checkpoint="tiny-a", refiner_switch_at=0.5), manager, samplers)
        refined = generate(replace(request, refiner_checkpoint="tiny-b", refiner_switch_at=0.5), manager, samplers)
        assert np.array_equal(pixels(plain.images[0]), pixels(same.images[0]))
        assert np.abs(pixels(plain.images[0]) - pixels(refined.images[0])).mean() > 1
        assert "Refiner: tiny-b [" in refined.infotexts[0]


def test_the_hires_refiner_acts_in_the_second_pass_only(manager, samplers):
    calls: list = []
    handles = [_record_unet_calls(manager, name, calls) for name in ("tiny-a", "tiny-b")]
    generate(validate(replace(REFINED, steps=3, enable_hr=True, hr_upscaler="Latent", denoising_strength=0.5,
                              hr_second_pass_steps=4)), manager, samplers)
    for h in handles:
        h.remove()
    # First pass: 3 base steps; second pass (4 steps, switch at 0.5): 2 base steps, then 2 refiner steps.
    assert [name for name, _, _ in calls] == ["tiny-a"] * 5 + ["tiny-b"] * 2


def test_a_switch_that_leaves_no_step_says_so_and_writes_no_refiner(manager, samplers):
    result = generate(validate(replace(REFINED, steps=4, refiner_switch_at=0.9)), manager, samplers)
    plain = generate(validate(replace(BASE, steps=4)), manager, samplers)
    assert np.array_equal(pixels(plain.images[0]), pixels(result.images[0]))
    assert "Refiner" not in result.infotexts[0]
    assert any("leaves no step for the refiner" in w for w in result.warnings)


def test_infotext_round_trip_restores_the_refiner(manager, samplers):
    result = generate(validate(REFINED), manager, samplers)
    parsed = parse_infotext(result.infotexts[0])
    fields = request_fields_from_infotext(parsed.prompt, parsed.negative_prompt, parsed.params)
    assert fields["refiner_checkpoint"].startswith("tiny-b [") and fields["refiner_switch_at"] == 0.5
    # A1111's "name [short hash]" finds the checkpoint again, and the same request makes the same picture.
    again = generate(validate(replace(BASE, refiner_checkpoint=fields["refiner_checkpoint"],
                                      refiner_switch_at=fields["refiner_switch_at"])), manager, samplers)
    assert np.array_equal(pixels(again.images[0]), pixels(result.images[0]))


def test_a_refiner_of_another_family_is_refused_naming_both(other_family_dir, cpu_fp32, tmp_path):
    from tests.fixtures.tiny import tiny_manager

    manager = tiny_manager(other_family_dir, cpu_fp32, tmp_path / "cache.json")
    request = validate(replace(BASE, refiner_checkpoint="tiny-wide"))
    with pytest.raises(RequestError) as refused:
        refiner.check(request, manager.resolve("tiny-a"), manager)
    message = str(refused.value)
    assert "tiny-wide" in message and "tiny-a" in message and "same family" in message
    with pytest.raises(RequestError, match="Refiner: .*'nope' not found"):
        refiner.check(replace(request, refiner_checkpoint="nope"), manager.resolve("tiny-a"), manager)


def test_models_in_ram_1_loads_one_after_the_other(tiny_models_dir, cpu_fp32, tmp_path, manager, samplers):
    from tests.fixtures.tiny import tiny_manager

    one = tiny_manager(tiny_models_dir, cpu_fp32, tmp_path / "one.json", models_in_ram=1)
    request = validate(replace(REFINED, batch_count=2))
    result = generate(request, one, samplers)
    expected = generate(request, manager, samplers)
    assert [pixels(i).tolist() for i in result.images] == [pixels(i).tolist() for i in expected.images]
    assert [name.rsplit("/", 1)[-1] for name in one.loaded_names()] == ["tiny-b"]
    # The next job on the base reads it again (evicting the refiner) and makes the same pictures as before.
    again = generate(request, one, samplers)
    assert [pixels(i).tolist() for i in again.images] == [pixels(i).tolist() for i in expected.images]


def test_interrupted_before_the_switch_returns_the_base_picture_without_loading_the_refiner(manager, samplers):
    control = JobControl()
    control = replace(control, on_step=lambda info: control.interrupt.set() if info.step == 1 else None)
    result = generate(validate(REFINED), manager, samplers, control)
    assert result.interrupted and len(result.images) == 1
    assert "Refiner" not in result.infotexts[0]
    assert all("tiny-b" not in name for name in manager.loaded_names())


def test_sdxl_continues_exactly_too(sdxl_models, samplers):
    """SDXL's img2img pipeline (pooled embeddings, size micro-conditioning) continues the txt2img run bit for bit."""
    request = validate(replace(BASE, checkpoint="tiny-xl", sampler="DPM++ 2M", steps=4))
    plain = generate(request, sdxl_models, samplers)
    same = generate(replace(request, refiner_checkpoint="tiny-xl", refiner_switch_at=0.5), sdxl_models, samplers)
    assert np.array_equal(pixels(plain.images[0]), pixels(same.images[0]))
    assert "Refiner: tiny-xl [" in same.infotexts[0]


def test_controlnet_units_keep_their_step_window_across_the_switch(cn_models_dir, cpu_fp32, tmp_path, samplers):
    """A unit acting from 25% to 75% of the steps acts on the same steps whether or not the refiner took over
    at 50%: with the checkpoint itself as the refiner the picture is the same, bit for bit."""
    from modules.core.requests import ControlUnit
    from tests.core.test_controlnet import scribble
    from tests.fixtures.tiny import tiny_manager

    manager = tiny_manager(cn_models_dir, cpu_fp32, tmp_path / "cache.json")
    manager.controlnet_dir = cn_models_dir / "ControlNet"
    manager.refresh()
    unit = ControlUnit(image=scribble(), model="tiny-cn", guidance_start=0.25, guidance_end=0.75)
    request = validate(replace(BASE, width=32, height=32, steps=8, checkpoint="tiny-a", control_units=(unit,)),
                       samplers=samplers)
    plain = generate(request, manager, samplers)
    same = generate(replace(request, refiner_checkpoint="tiny-a", refiner_switch_at=0.5), manager, samplers)
    assert np.array_equal(pixels(plain.images[0]), pixels(same.images[0]))
    without = generate(replace(request, control_units=()), manager, samplers)
    assert not np.array_equal(pixels(plain.images[0]), pixels(without.images[0]))  # the unit does act
