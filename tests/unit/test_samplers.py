"""A1111 sampler names -> diffusers schedulers: names, schedule types, configs, and a real step loop."""

from __future__ import annotations

import inspect

import pytest
import torch
from diffusers import (
    DPMSolverMultistepScheduler,
    DPMSolverSDEScheduler,
    DPMSolverSinglestepScheduler,
    EulerAncestralDiscreteScheduler,
    EulerDiscreteScheduler,
    HeunDiscreteScheduler,
    KDPM2AncestralDiscreteScheduler,
    KDPM2DiscreteScheduler,
    PNDMScheduler,
    UniPCMultistepScheduler,
)

from modules.engine.samplers import (
    SCHEDULE_TYPES,
    SamplerRegistry,
    SamplerSpec,
    UnknownSamplerError,
    UnknownScheduleTypeError,
    UnsupportedScheduleTypeError,
    _dpmpp_sde_spec,
)

# diffusers 0.42 schedulers pass torch tensors through numpy: numpy 2 warns ("__array__ ...") thousands of times.
pytestmark = pytest.mark.filterwarnings("ignore:__array:DeprecationWarning")

# runwayml/stable-diffusion-v1-5's scheduler/scheduler_config.json, as a pipeline's scheduler.config holds it.
SD15_CONFIG: dict[str, object] = {
    "_class_name": "PNDMScheduler",
    "_diffusers_version": "0.6.0",
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "num_train_timesteps": 1000,
    "steps_offset": 1,
    "skip_prk_steps": True,
    "set_alpha_to_one": False,
    "clip_sample": False,
    "trained_betas": None,
}
SD2V_CONFIG: dict[str, object] = {**SD15_CONFIG, "_class_name": "DDIMScheduler", "prediction_type": "v_prediction"}

A1111_NAMES = [
    "Euler a", "Euler", "LMS", "Heun", "DPM2", "DPM2 a", "DPM++ 2M", "DPM++ 2M SDE", "DPM++ SDE",
    "DPM++ 2S a", "DDIM", "PLMS", "UniPC", "DPM++ 3M SDE", "DPM++ 2M SDE Heun", "LCM",
]  # fmt: skip
# What API clients send as sampler_index / old infotexts carry.
A1111_ALIASES = {
    "k_euler_a": "Euler a", "k_euler_ancestral": "Euler a", "k_euler": "Euler", "k_lms": "LMS",
    "k_heun": "Heun", "k_dpm_2": "DPM2", "k_dpm_2_a": "DPM2 a", "k_dpmpp_2m": "DPM++ 2M",
    "k_dpmpp_2m_sde": "DPM++ 2M SDE", "k_dpmpp_sde": "DPM++ SDE", "k_dpmpp_2s_a": "DPM++ 2S a",
    "k_dpmpp_3m_sde": "DPM++ 3M SDE", "ddim": "DDIM", "plms": "PLMS", "PNDM": "PLMS", "unipc": "UniPC",
    "k_lcm": "LCM",
}  # fmt: skip


@pytest.fixture(scope="module")
def registry() -> SamplerRegistry:
    return SamplerRegistry.default()


def all_combinations() -> list[tuple[str, str]]:
    reg = SamplerRegistry.default()
    return [(name, schedule) for name in reg.names() for schedule in reg.schedule_types(name)]


def expected_timesteps(scheduler: object, steps: int) -> int:
    """Second-order k-diffusion schedulers list each inner step twice; PLMS repeats its first timestep."""
    second_order = (HeunDiscreteScheduler, KDPM2DiscreteScheduler, KDPM2AncestralDiscreteScheduler, DPMSolverSDEScheduler)
    if isinstance(scheduler, second_order):
        return 2 * steps - 1
    if isinstance(scheduler, PNDMScheduler):
        return steps + 1
    return steps


def test_every_a1111_name_resolves(registry: SamplerRegistry) -> None:
    for name in A1111_NAMES:
        assert registry.resolve(name).name == name
    assert set(A1111_NAMES) <= set(registry.names())


@pytest.mark.parametrize(("alias", "name"), sorted(A1111_ALIASES.items()))
def test_every_alias_resolves(registry: SamplerRegistry, alias: str, name: str) -> None:
    assert registry.resolve(alias).name == name


def test_names_are_case_insensitive_and_trimmed(registry: SamplerRegistry) -> None:
    assert registry.resolve("  dpm++ 2m ").name == "DPM++ 2M"
    assert registry.resolve("EULER A").name == "Euler a"
    assert registry.resolve("K_DPMPP_2M").name == "DPM++ 2M"


def test_every_registered_alias_resolves_to_its_spec(registry: SamplerRegistry) -> None:
    for name in registry.names():
        spec = registry.resolve(name)
        for alias in spec.aliases:
            assert registry.resolve(alias) is spec


@pytest.mark.parametrize(("name", "schedule"), all_combinations())
def test_every_sampler_and_schedule_type_builds_and_sets_timesteps(
    registry: SamplerRegistry, name: str, schedule: str
) -> None:
    scheduler = registry.make_scheduler(name, schedule, SD15_CONFIG)
    assert isinstance(scheduler, registry.resolve(name).scheduler_class)
    scheduler.set_timesteps(20)
    assert len(scheduler.timesteps) == expected_timesteps(scheduler, 20)
    # The checkpoint's trained noise schedule carries over.
    assert scheduler.config.beta_schedule == "scaled_linear"
    assert scheduler.config.beta_start == pytest.approx(0.00085)
    assert scheduler.config.prediction_type == "epsilon"


@pytest.mark.parametrize(("name", "schedule"), all_combinations())
def test_every_sampler_runs_a_five_step_loop(registry: SamplerRegistry, name: str, schedule: str) -> None:
    """The way a pipeline drives a scheduler; catches missing extras (torchsde, scipy) and NaN endings."""
    scheduler = registry.make_scheduler(name, schedule, SD15_CONFIG)
    scheduler.set_timesteps(5)
    generator = torch.Generator().manual_seed(0)
    latents = torch.randn(1, 4, 8, 8, generator=generator) * scheduler.init_noise_sigma
    step_kwargs = {"generator": generator} if "generator" in inspect.signature(scheduler.step).parameters else {}
    for t in scheduler.timesteps:
        model_input = scheduler.scale_model_input(latents, t)
        noise_pred = torch.zeros_like(model_input)  # a "model" that predicts no noise
        latents = scheduler.step(noise_pred, t, latents, **step_kwargs).prev_sample
    assert latents.shape == (1, 4, 8, 8)
    assert torch.isfinite(latents).all(), f"{name} / {schedule} produced NaN or inf"


@pytest.mark.parametrize("name", A1111_NAMES)
def test_v_prediction_config_stays_v_prediction(registry: SamplerRegistry, name: str) -> None:
    scheduler = registry.make_scheduler(name, "Automatic", SD2V_CONFIG)
    assert scheduler.config.prediction_type == "v_prediction"


def test_options_shape_the_scheduler(registry: SamplerRegistry) -> None:
    dpm_2m = registry.make_scheduler("DPM++ 2M", "Karras", SD15_CONFIG)
    assert isinstance(dpm_2m, DPMSolverMultistepScheduler)
    assert dpm_2m.config.algorithm_type == "dpmsolver++"
    assert dpm_2m.config.solver_order == 2
    assert dpm_2m.config.use_karras_sigmas is True

    sde = registry.make_scheduler("DPM++ 2M SDE", "Exponential", SD15_CONFIG)
    assert sde.config.algorithm_type == "sde-dpmsolver++"
    assert sde.config.use_exponential_sigmas is True
    assert sde.config.use_karras_sigmas is False

    assert registry.make_scheduler("DPM++ 3M SDE", "Automatic", SD15_CONFIG).config.solver_order == 3
    assert isinstance(registry.make_scheduler("Euler a", "Automatic", SD15_CONFIG), EulerAncestralDiscreteScheduler)
    assert registry.make_scheduler("PLMS", "Automatic", SD15_CONFIG).config.skip_prk_steps is True
    assert registry.make_scheduler("DDIM", "Automatic", SD15_CONFIG).config.clip_sample is False
    unipc = registry.make_scheduler("UniPC", "Automatic", SD15_CONFIG)
    assert isinstance(unipc, UniPCMultistepScheduler)
    assert (unipc.config.solver_type, unipc.config.solver_order) == ("bh1", 3)


def test_automatic_is_the_samplers_a1111_default_schedule(registry: SamplerRegistry) -> None:
    # A1111 >= 1.9: "Automatic" = Karras for DPM++ 2M, Exponential for 2M SDE, the plain schedule for Euler.
    assert registry.make_scheduler("DPM++ 2M", "Automatic", SD15_CONFIG).config.use_karras_sigmas is True
    assert registry.make_scheduler("DPM++ 2M SDE", "Automatic", SD15_CONFIG).config.use_exponential_sigmas is True
    euler = registry.make_scheduler("Euler", "Automatic", SD15_CONFIG)
    assert euler.config.use_karras_sigmas is False
    assert euler.config.timestep_spacing == "linspace"  # EulerDiscrete's default: A1111's k-diffusion spacing


def test_checkpoint_timestep_spacing_is_kept_for_automatic(registry: SamplerRegistry) -> None:
    sdxl_like = {**SD15_CONFIG, "_class_name": "EulerDiscreteScheduler", "timestep_spacing": "leading"}
    assert registry.make_scheduler("Euler", "Automatic", sdxl_like).config.timestep_spacing == "leading"
    assert registry.make_scheduler("Euler", "Uniform", sdxl_like).config.timestep_spacing == "linspace"
    assert registry.make_scheduler("Euler", "SGM Uniform", sdxl_like).config.timestep_spacing == "trailing"
    # DDIM/PLMS keep "leading" + steps_offset 1, as A1111's DDIM/PLMS: last timestep is 1.
    ddim = registry.make_scheduler("DDIM", "Automatic", SD15_CONFIG)
    ddim.set_timesteps(20)
    assert int(ddim.timesteps[-1]) == 1


def test_config_from_an_earlier_job_does_not_leak_solver_settings(registry: SamplerRegistry) -> None:
    earlier = registry.make_scheduler("DPM++ 3M SDE", "Karras", SD15_CONFIG)
    later = registry.make_scheduler("DPM++ 2M", "Exponential", earlier.config)
    assert later.config.solver_order == 2
    assert later.config.algorithm_type == "dpmsolver++"
    assert later.config.use_karras_sigmas is False
    assert later.config.use_exponential_sigmas is True


def test_schedule_type_names_accept_a1111_spellings(registry: SamplerRegistry) -> None:
    for spelling in ("karras", "KARRAS", "Karras"):
        assert registry.make_scheduler("Euler", spelling, SD15_CONFIG).config.use_karras_sigmas is True
    for spelling in ("sgm_uniform", "SGMUniform", "SGM Uniform"):
        assert registry.make_scheduler("Euler", spelling, SD15_CONFIG).config.timestep_spacing == "trailing"


def test_schedule_types_lists_only_what_the_class_supports(registry: SamplerRegistry) -> None:
    assert registry.schedule_types("DPM++ 2M")[:4] == ["Automatic", "Uniform", "Karras", "Exponential"]
    assert "Karras" not in registry.schedule_types("Euler a")  # no sigma flags on EulerAncestral in diffusers
    assert registry.schedule_types("LCM") == ["Automatic"]
    assert set(registry.schedule_types("Euler")) <= set(SCHEDULE_TYPES)


def test_unknown_sampler_error_lists_the_available_ones(registry: SamplerRegistry) -> None:
    with pytest.raises(UnknownSamplerError, match=r"Unknown sampler 'Eulr'\. Available: .*DPM\+\+ 2M.*Euler a"):
        registry.resolve("Eulr")
    with pytest.raises(ValueError, match="Unknown sampler 'nope'"):
        registry.make_scheduler("nope", "Automatic", SD15_CONFIG)


def test_unsupported_schedule_type_names_sampler_type_and_alternatives(registry: SamplerRegistry) -> None:
    with pytest.raises(UnsupportedScheduleTypeError) as excinfo:
        registry.make_scheduler("Euler a", "Karras", SD15_CONFIG)
    message = str(excinfo.value)
    assert "'Euler a'" in message and "'Karras'" in message
    assert "Automatic, Uniform, SGM Uniform" in message
    assert isinstance(excinfo.value, ValueError)


def test_unknown_schedule_type_is_a_clear_error(registry: SamplerRegistry) -> None:
    with pytest.raises(UnknownScheduleTypeError, match=r"Unknown schedule type 'Karas'\. Available: Automatic"):
        registry.make_scheduler("Euler", "Karas", SD15_CONFIG)


def test_legacy_combined_names_split_into_sampler_and_schedule(registry: SamplerRegistry) -> None:
    spec, schedule = registry.resolve_with_schedule("DPM++ 2M Karras")
    assert (spec.name, schedule) == ("DPM++ 2M", "Karras")
    spec, schedule = registry.resolve_with_schedule("k_lms_ka")
    assert (spec.name, schedule) == ("LMS", "Karras")
    spec, schedule = registry.resolve_with_schedule("DPM++ 2M SDE Exponential", "Karras")
    assert (spec.name, schedule) == ("DPM++ 2M SDE", "Exponential")  # the name's schedule wins, as in A1111
    spec, schedule = registry.resolve_with_schedule("Euler SGM Uniform")
    assert (spec.name, schedule) == ("Euler", "SGM Uniform")
    spec, schedule = registry.resolve_with_schedule("DPM++ 2M SDE", "karras")
    assert (spec.name, schedule) == ("DPM++ 2M SDE", "Karras")
    with pytest.raises(UnknownSamplerError):
        registry.resolve_with_schedule("Nope Karras")


def test_registering_a_custom_sampler() -> None:
    registry = SamplerRegistry.default()
    options = {"timestep_spacing": "trailing"}
    spec = SamplerSpec("Euler Trailing", EulerDiscreteScheduler, options, aliases=("my_euler_trailing",))
    registry.register(spec)
    options["timestep_spacing"] = "leading"  # the registered spec keeps its own copy
    assert registry.names()[-1] == "Euler Trailing"
    assert registry.resolve("my_euler_trailing") is spec
    scheduler = registry.make_scheduler("euler trailing", "Karras", SD15_CONFIG)
    assert scheduler.config.timestep_spacing == "trailing"
    assert scheduler.config.use_karras_sigmas is True
    # Another registry is untouched: no shared module-level state.
    with pytest.raises(UnknownSamplerError):
        SamplerRegistry.default().resolve("Euler Trailing")


def test_duplicate_names_and_aliases_are_refused() -> None:
    registry = SamplerRegistry.default()
    with pytest.raises(ValueError, match="'Euler' is already used by sampler 'Euler'"):
        registry.register(SamplerSpec("Euler", EulerDiscreteScheduler))
    with pytest.raises(ValueError, match="already used by sampler 'DPM\\+\\+ 2M'"):
        registry.register(SamplerSpec("My sampler", EulerDiscreteScheduler, aliases=("K_DPMPP_2M",)))
    assert "My sampler" not in registry.names()


def test_spec_rejects_options_the_scheduler_does_not_take() -> None:
    with pytest.raises(ValueError, match="EulerDiscreteScheduler has no config option"):
        SamplerSpec("Bad", EulerDiscreteScheduler, {"solver_order": 2})
    with pytest.raises(ValueError, match="default schedule 'Karras' is not one of"):
        SamplerSpec("Bad", EulerAncestralDiscreteScheduler, default_schedule="Karras")
    with pytest.raises(ValueError, match="diffusers scheduler class"):
        SamplerSpec("Bad", dict)


def test_dpmpp_sde_without_torchsde_is_a_documented_approximation() -> None:
    spec = _dpmpp_sde_spec(have_torchsde=False)
    assert spec.scheduler_class is DPMSolverSinglestepScheduler
    assert spec.options["algorithm_type"] == "sde-dpmsolver++"
    assert "torchsde" in spec.note
