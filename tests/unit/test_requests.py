"""GenerationRequest validation, seeds, and request fields read back from an A1111 infotext."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from modules.core.infotext import parse_infotext
from modules.core.request_infotext import request_field_names, request_fields_from_infotext
from modules.core.requests import MAX_SEED, GenerationRequest, Limits, RequestError
from modules.core.validation import validate
from modules.engine.samplers import SamplerRegistry

OK = GenerationRequest(prompt="a red circle", width=512, height=512, steps=20, cfg_scale=7.0, sampler="Euler a")


@pytest.fixture(scope="module")
def registry() -> SamplerRegistry:
    return SamplerRegistry.default()


def test_a_good_request_passes_unchanged(registry):
    assert validate(OK, samplers=registry) == OK


@pytest.mark.parametrize(("field", "value"), [("width", 500), ("height", 513), ("width", 4), ("height", 0),
                                              ("width", -8)])
def test_size_must_be_a_positive_multiple_of_8(registry, field, value):
    with pytest.raises(RequestError, match=rf"{field.capitalize()} has to be a positive multiple of 8, but is {value}"):
        validate(replace(OK, **{field: value}), samplers=registry)


def test_size_error_suggests_a_size_that_works(registry):
    with pytest.raises(RequestError) as err:
        validate(replace(OK, width=514), samplers=registry)
    suggested = int(str(err.value).rsplit("Try ", 1)[1].rstrip("."))
    assert suggested % 8 == 0 and abs(suggested - 514) <= 8


def test_size_over_the_limit(registry):
    with pytest.raises(RequestError, match="Width 4096 is over the limit of 2048"):
        validate(replace(OK, width=4096), samplers=registry)
    with pytest.raises(RequestError, match="Height 1032 is over the limit of 1024"):
        validate(replace(OK, height=1032), Limits(max_size=1024), samplers=registry)
    assert validate(replace(OK, height=1024), Limits(max_size=1024), samplers=registry).height == 1024


@pytest.mark.parametrize("steps", [0, -3, 151])
def test_steps_out_of_range(registry, steps):
    with pytest.raises(RequestError, match=f"Steps must be between 1 and 150, but is {steps}"):
        validate(replace(OK, steps=steps), samplers=registry)


@pytest.mark.parametrize("cfg", [-0.5, 30.5, 100])
def test_cfg_out_of_range(registry, cfg):
    with pytest.raises(RequestError, match="CFG scale must be between 0 and 30"):
        validate(replace(OK, cfg_scale=cfg), samplers=registry)


def test_cfg_edges_are_allowed(registry):
    assert validate(replace(OK, cfg_scale=0), samplers=registry).cfg_scale == 0.0
    assert validate(replace(OK, cfg_scale=30), samplers=registry).cfg_scale == 30.0


def test_unknown_sampler_lists_the_available_ones(registry):
    with pytest.raises(RequestError) as err:
        validate(replace(OK, sampler="Magic Sampler"), samplers=registry)
    message = str(err.value)
    assert "Magic Sampler" in message
    for name in ("Euler a", "DPM++ 2M", "DDIM", "UniPC"):
        assert name in message


def test_unsupported_schedule_type_is_refused_with_choices(registry):
    # Euler a's scheduler has no Karras sigmas in diffusers.
    assert "Karras" not in registry.schedule_types("Euler a")
    with pytest.raises(RequestError) as err:
        validate(replace(OK, sampler="Euler a", schedule_type="Karras"), samplers=registry)
    assert "Karras" in str(err.value)
    assert "Uniform" in str(err.value)  # what it could use instead


def test_unknown_schedule_type_is_refused(registry):
    with pytest.raises(RequestError, match="Wobbly"):
        validate(replace(OK, sampler="Euler", schedule_type="Wobbly"), samplers=registry)


def test_sampler_aliases_and_legacy_names_are_normalised(registry):
    out = validate(replace(OK, sampler="DPM++ 2M Karras", schedule_type="Automatic"), samplers=registry)
    assert (out.sampler, out.schedule_type) == ("DPM++ 2M", "Karras")
    assert validate(replace(OK, sampler="euler a"), samplers=registry).sampler == "Euler a"
    assert validate(replace(OK, schedule_type="sgm_uniform"), samplers=registry).schedule_type == "SGM Uniform"


def test_numbers_as_strings_and_floats_are_accepted(registry):
    request = replace(OK, steps="20", width=512.0, height="768", seed="42", cfg_scale="6.5", batch_size=2.0,
                      subseed_strength="0.25")
    out = validate(request, samplers=registry)
    assert (out.steps, out.width, out.height, out.seed, out.batch_size) == (20, 512, 768, 42, 2)
    assert all(type(v) is int for v in (out.steps, out.width, out.height, out.seed, out.batch_size))
    assert out.cfg_scale == 6.5 and type(out.cfg_scale) is float
    assert out.subseed_strength == 0.25
    assert validate(replace(OK, steps=20.0), samplers=registry).steps == 20


@pytest.mark.parametrize(("field", "value", "message"), [
    ("steps", "twenty", "Steps must be a number"),
    ("steps", 20.5, "steps must be a whole number"),
    ("width", None, "width must be a number"),
    ("cfg_scale", "high", "CFG scale must be a number"),
])
def test_numbers_that_are_not_numbers_are_refused(registry, field, value, message):
    with pytest.raises(RequestError, match=f"(?i){message}"):
        validate(replace(OK, **{field: value}), samplers=registry)


@pytest.mark.parametrize(("field", "value"), [("steps", float("inf")), ("seed", float("nan")),
                                              ("width", "Infinity"), ("subseed_strength", "lots"),
                                              ("cfg_scale", float("nan"))])
def test_non_finite_or_garbage_numbers_are_request_errors(registry, field, value):
    # JSON (as Python parses it) can carry NaN and Infinity: they must come back as a message, not a crash.
    with pytest.raises(RequestError):
        validate(replace(OK, **{field: value}), samplers=registry)


def test_other_ranges(registry):
    for field, value in (("batch_count", 0), ("batch_size", 9), ("clip_skip", 13), ("seed", -2),
                         ("subseed", MAX_SEED + 1), ("subseed_strength", 1.5)):
        with pytest.raises(RequestError):
            validate(replace(OK, **{field: value}), samplers=registry)


def test_unknown_mode(registry):
    with pytest.raises(RequestError, match="Unknown mode 'paint'"):
        validate(replace(OK, mode="paint"), samplers=registry)


def test_validate_without_a_registry_skips_sampler_checks():
    assert validate(replace(OK, sampler="Anything")).sampler == "Anything"


# ---------------------------------------------------------------------------------------------- seeds


def test_random_seeds_are_resolved_and_given_seeds_kept():
    resolved = replace(OK, seed=-1, subseed=-1).with_resolved_seeds(random.Random(0))
    assert 0 <= resolved.seed <= MAX_SEED and 0 <= resolved.subseed <= MAX_SEED
    again = replace(OK, seed=-1, subseed=-1).with_resolved_seeds(random.Random(0))
    assert (again.seed, again.subseed) == (resolved.seed, resolved.subseed)  # the rng decides, nothing else
    kept = replace(OK, seed=7, subseed=9).with_resolved_seeds(random.Random(0))
    assert (kept.seed, kept.subseed) == (7, 9)


def test_unresolved_random_seeds_differ_between_calls():
    seeds = {replace(OK, seed=-1).with_resolved_seeds().seed for _ in range(5)}
    assert len(seeds) > 1


def test_seeds_cover_batch_count_times_batch_size():
    request = replace(OK, seed=100, subseed=5, batch_count=2, batch_size=3)
    assert request.image_count == 6
    assert request.seeds() == [100, 101, 102, 103, 104, 105]
    assert request.subseeds() == [5, 6, 7, 8, 9, 10]


def test_seeds_wrap_at_the_largest_seed():
    assert replace(OK, seed=MAX_SEED, batch_size=2).seeds() == [MAX_SEED, 0]


# ---------------------------------------------------------------------------------------------- infotext

A1111_TEXT = (
    "a cat in a hat, <lora:paper:0.6>\n"
    "Negative prompt: blurry, ugly\n"
    "Steps: 25, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 6.5, Seed: 1234, Size: 512x768, "
    "Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, VAE: vae-ft-mse.safetensors, Variation seed: 99, "
    "Variation seed strength: 0.3, Clip skip: 2, Version: v1.10.1"
)


def test_request_fields_from_a1111_infotext(registry):
    info = parse_infotext(A1111_TEXT)
    out = request_fields_from_infotext(info.prompt, info.negative_prompt, info.params)
    assert out == {
        "prompt": "a cat in a hat, <lora:paper:0.6>",
        "negative_prompt": "blurry, ugly",
        "steps": 25,
        "sampler": "DPM++ 2M",
        "schedule_type": "Karras",
        "cfg_scale": 6.5,
        "seed": 1234,
        "width": 512,
        "height": 768,
        "subseed": 99,
        "subseed_strength": 0.3,
        "clip_skip": 2,
        "vae": "vae-ft-mse.safetensors",
        "checkpoint": "v1-5-pruned-emaonly",
        "checkpoint_hash": "6ce0161689",
    }
    # Everything but the hash is a request field, and the result is a valid request.
    fields = {k: v for k, v in out.items() if k != "checkpoint_hash"}
    assert set(fields) <= set(request_field_names())
    request = validate(GenerationRequest(**fields), samplers=registry)
    assert (request.sampler, request.schedule_type, request.width, request.height) == ("DPM++ 2M", "Karras", 512, 768)


def test_infotext_values_that_do_not_parse_are_left_out():
    info = parse_infotext("a dog\nSteps: many, Sampler: Euler, CFG scale: 7, Seed: 3, Size: bigxsmall")
    out = request_fields_from_infotext(info.prompt, info.negative_prompt, info.params)
    assert "steps" not in out and "width" not in out and "height" not in out
    assert (out["prompt"], out["sampler"], out["cfg_scale"], out["seed"]) == ("a dog", "Euler", 7.0, 3)
    assert "checkpoint" not in out


def test_legacy_sampler_name_from_old_infotext_resolves(registry):
    info = parse_infotext("x\nSteps: 10, Sampler: DPM++ 2M Karras, CFG scale: 7, Seed: 1, Size: 64x64, Model hash: abc")
    out = request_fields_from_infotext(info.prompt, info.negative_prompt, info.params)
    assert out["checkpoint"] == "abc"  # only a hash: it names the checkpoint
    request = validate(GenerationRequest(**{k: v for k, v in out.items() if k != "checkpoint_hash"}), samplers=registry)
    assert (request.sampler, request.schedule_type) == ("DPM++ 2M", "Karras")
