"""AUTOMATIC1111 sampler and schedule-type names -> diffusers schedulers.

A1111 users (and API clients sending ``sampler_name`` / ``sampler_index`` / ``scheduler``) name a sampler
("DPM++ 2M", or an alias such as ``k_dpmpp_2m``) and a schedule type ("Automatic", "Karras", ...). Here each
sampler is a :class:`SamplerSpec`: a diffusers scheduler class plus the options that make it behave like
A1111's sampler. A :class:`SamplerRegistry` (built by ``webui.py`` and passed in; extensions add to it) turns
a (sampler, schedule type, checkpoint scheduler config) triple into a fresh scheduler for one job.

Mapping choices, all checked against diffusers 0.42 scheduler sources:

* "Automatic" means what it means in A1111 >= 1.9: the sampler's own preferred schedule (Karras for
  DPM++ 2M / SDE / 2S a, Exponential for the 2M SDE / 3M SDE family), otherwise the checkpoint's own
  schedule.
* Timestep spacing: we keep the checkpoint's config (``timestep_spacing`` and ``steps_offset``). SD 1.x/2.x
  configs don't set ``timestep_spacing``, so each class's default applies: "linspace" for the k-diffusion
  style schedulers (what A1111's k-diffusion samplers use: sigmas at linspace(999, 0, n)) and "leading" +
  steps_offset 1 for DDIM/PLMS (what A1111's DDIM/PLMS use). SDXL's config says "leading" where A1111 uses
  linspace for k-samplers; that is a small difference in the first sigma, and "Uniform" gives A1111's
  spacing exactly, so we don't override the checkpoint silently.
* Approximations (no exact diffusers counterpart) carry a ``note`` on their spec; see ``_default_specs``.
"""

from __future__ import annotations

import importlib.util
import inspect
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from diffusers import (
    DDIMScheduler,
    DPMSolverMultistepScheduler,
    DPMSolverSinglestepScheduler,
    EulerAncestralDiscreteScheduler,
    EulerDiscreteScheduler,
    HeunDiscreteScheduler,
    KDPM2AncestralDiscreteScheduler,
    KDPM2DiscreteScheduler,
    LCMScheduler,
    LMSDiscreteScheduler,
    PNDMScheduler,
    TCDScheduler,
    UniPCMultistepScheduler,
)
from diffusers.schedulers.scheduling_utils import SchedulerMixin

__all__ = [
    "SCHEDULE_TYPES",
    "SamplerRegistry",
    "SamplerSpec",
    "UnknownSamplerError",
    "UnknownScheduleTypeError",
    "UnsupportedScheduleTypeError",
    "supported_schedule_types",
]

# A1111's labels, in A1111's order. Each non-automatic type is one config key of the diffusers scheduler.
# A1111 1.10 also has Polyexponential, KL Optimal and Align Your Steps: they need sigma lists that diffusers'
# scheduler configs cannot express, so they are not offered (refused by name rather than approximated).
SCHEDULE_TYPES: tuple[str, ...] = (
    "Automatic", "Uniform", "Karras", "Exponential", "SGM Uniform", "Simple", "Normal", "DDIM", "Beta",
)

# The scheduler config a schedule type sets; the first key decides whether a scheduler class supports it.
_SCHEDULE_CONFIG: Mapping[str, Mapping[str, object]] = MappingProxyType(
    {
        # A1111 "Uniform" = k-diffusion get_sigmas(): timesteps at linspace(999, 0, n).
        "Uniform": {"timestep_spacing": "linspace"},
        "Karras": {"use_karras_sigmas": True},
        "Exponential": {"use_exponential_sigmas": True},
        # A1111 "SGM Uniform" = linspace(t_max, t_min, n + 1)[:-1]: starts at 999, diffusers "trailing". The
        # schedule few-step models (Lightning, Hyper-SD, Turbo) are distilled for.
        "SGM Uniform": {"timestep_spacing": "trailing"},
        # A1111 "Simple" takes every (1000 / n)-th trained timestep from 999 down: "trailing", except that A1111
        # truncates where diffusers rounds (at most one timestep apart when n does not divide 1000).
        "Simple": {"timestep_spacing": "trailing"},
        # A1111 "Normal" = linspace(t_max, t_min, n): the same timesteps as diffusers' "linspace".
        "Normal": {"timestep_spacing": "linspace"},
        # A1111 "DDIM" = timesteps 1, 1 + 1000 // n, ...: diffusers' "leading" with steps_offset 1.
        "DDIM": {"timestep_spacing": "leading", "steps_offset": 1},
        # diffusers' beta sigmas use alpha = beta = 0.6, A1111's defaults; they need scipy.
        "Beta": {"use_beta_sigmas": True},
    }
)
_SIGMA_FLAGS: tuple[str, ...] = ("use_karras_sigmas", "use_exponential_sigmas", "use_beta_sigmas")

# Pre-1.9 A1111 folded the schedule into the sampler name ("DPM++ 2M Karras", alias "k_dpmpp_2m_ka");
# old API clients and infotexts still send those. Longest suffix first so " sgm uniform" beats " uniform".
_LEGACY_SUFFIXES: tuple[tuple[str, str], ...] = tuple(
    sorted(
        [(" " + label.casefold(), label) for label in SCHEDULE_TYPES[1:]]
        + [(" " + label.casefold().replace(" ", "_"), label) for label in SCHEDULE_TYPES[1:] if " " in label]
        + [(" sgmuniform", "SGM Uniform"), ("_ka", "Karras")],
        key=lambda item: -len(item[0]),
    )
)

# Keys that say which solver runs, not how the checkpoint was trained. Dropped from the base config so a
# config taken from an earlier job's scheduler (e.g. DPM++ 3M's solver_order=3) can't leak into another
# sampler. Sigma flags are always set explicitly instead (see make_scheduler).
_SOLVER_KEYS: frozenset[str] = frozenset(
    {
        "algorithm_type",
        "solver_order",
        "solver_type",
        "lower_order_final",
        "final_sigmas_type",
        "skip_prk_steps",
        "noise_sampler_seed",
    }
)


class UnknownSamplerError(ValueError):
    """The sampler name is neither a registered name nor an alias."""


class UnknownScheduleTypeError(ValueError):
    """The schedule type is not one of SCHEDULE_TYPES."""


class UnsupportedScheduleTypeError(ValueError):
    """The sampler's scheduler class has no config key for the requested schedule type."""


def _init_params(scheduler_class: type) -> frozenset[str] | None:
    """Config keys the scheduler's __init__ takes; None when it only takes **kwargs (diffusers' dummies)."""
    params = inspect.signature(scheduler_class.__init__).parameters
    named = {n for n, p in params.items() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)} - {"self"}
    return frozenset(named) if named else None


def supported_schedule_types(scheduler_class: type) -> tuple[str, ...]:
    """Schedule types whose config key the scheduler class accepts, in SCHEDULE_TYPES order."""
    params = _init_params(scheduler_class) or frozenset()
    have_scipy = importlib.util.find_spec("scipy") is not None
    supported = ["Automatic"]
    for label, config in _SCHEDULE_CONFIG.items():
        if set(config) <= params and (label != "Beta" or have_scipy):
            supported.append(label)
    return tuple(supported)


def _canonical_schedule_type(schedule_type: str) -> str:
    """'karras', 'sgm_uniform', 'SGMUniform', 'SGM Uniform' -> 'SGM Uniform' etc. (A1111's names + labels)."""
    key = "".join(ch for ch in schedule_type.casefold() if ch not in " _-")
    for label in SCHEDULE_TYPES:
        if label.casefold().replace(" ", "") == key:
            return label
    raise UnknownScheduleTypeError(
        f"Unknown schedule type {schedule_type!r}. Available: {', '.join(SCHEDULE_TYPES)}."
    )


@dataclass(frozen=True)
class SamplerSpec:
    """One A1111 sampler: which diffusers scheduler runs it and with which options.

    ``schedule_types`` left empty means "whatever the scheduler class supports". ``default_schedule`` is what
    "Automatic" stands for (A1111's per-sampler ``scheduler`` option); "Automatic" itself means the checkpoint's
    own schedule. ``note`` says how the mapping differs from A1111 when it does.
    """

    name: str
    scheduler_class: type
    options: Mapping[str, object] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()
    schedule_types: tuple[str, ...] = ()
    default_schedule: str = "Automatic"
    note: str = ""

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise ValueError("A sampler needs a non-empty name.")
        if not (inspect.isclass(self.scheduler_class) and issubclass(self.scheduler_class, SchedulerMixin)):
            raise ValueError(f"Sampler {self.name!r}: scheduler_class must be a diffusers scheduler class.")
        params = _init_params(self.scheduler_class)
        unknown = sorted(set(self.options) - params) if params is not None else []
        if unknown:
            raise ValueError(
                f"Sampler {self.name!r}: {self.scheduler_class.__name__} has no config option(s) "
                f"{', '.join(unknown)}."
            )
        # Frozen means frozen: copy the options so the caller's dict can't change a registered sampler.
        object.__setattr__(self, "options", MappingProxyType(dict(self.options)))
        object.__setattr__(self, "aliases", tuple(self.aliases))
        if self.schedule_types:
            types = tuple(_canonical_schedule_type(t) for t in self.schedule_types)
        else:
            types = supported_schedule_types(self.scheduler_class)
        if "Automatic" not in types:
            types = ("Automatic", *types)
        object.__setattr__(self, "schedule_types", types)
        default = _canonical_schedule_type(self.default_schedule)
        if default not in types:
            raise ValueError(
                f"Sampler {self.name!r}: default schedule {default!r} is not one of its schedule types "
                f"({', '.join(types)})."
            )
        object.__setattr__(self, "default_schedule", default)


class SamplerRegistry:
    """Samplers by A1111 name and alias. Build one per app (``SamplerRegistry.default()``) and pass it in."""

    def __init__(self, specs: Iterable[SamplerSpec] = ()) -> None:
        self._specs: dict[str, SamplerSpec] = {}  # canonical name -> spec, in registration order
        self._lookup: dict[str, str] = {}  # casefolded name or alias -> canonical name
        for spec in specs:
            self.register(spec)

    @classmethod
    def default(cls) -> SamplerRegistry:
        """The A1111 samplers that diffusers can run."""
        return cls(_default_specs(have_torchsde=importlib.util.find_spec("torchsde") is not None))

    def register(self, spec: SamplerSpec) -> None:
        keys = [spec.name, *spec.aliases]
        for key in keys:
            taken_by = self._lookup.get(key.casefold())
            if taken_by is not None:
                raise ValueError(
                    f"Cannot register sampler {spec.name!r}: the name {key!r} is already used by "
                    f"sampler {taken_by!r}."
                )
        self._specs[spec.name] = spec
        for key in keys:
            self._lookup[key.casefold()] = spec.name

    def names(self) -> list[str]:
        return list(self._specs)

    def resolve(self, name: str) -> SamplerSpec:
        canonical = self._lookup.get(name.strip().casefold())
        if canonical is None:
            raise UnknownSamplerError(f"Unknown sampler {name!r}. Available: {', '.join(self._specs)}.")
        return self._specs[canonical]

    def resolve_with_schedule(self, name: str, schedule_type: str | None = None) -> tuple[SamplerSpec, str]:
        """Like A1111's get_sampler_and_scheduler: also accepts pre-1.9 names ("DPM++ 2M Karras", "k_lms_ka").

        A schedule type spelled in the sampler name wins over ``schedule_type``, as in A1111.
        Returns the spec and the canonical schedule type.
        """
        try:
            return self.resolve(name), _canonical_schedule_type(schedule_type or "Automatic")
        except UnknownSamplerError:
            folded = name.strip().casefold()
            for suffix, label in _LEGACY_SUFFIXES:
                base = folded.removesuffix(suffix)
                if base != folded and base in self._lookup:
                    return self.resolve(base), label
            raise

    def schedule_types(self, name: str) -> list[str]:
        return list(self.resolve(name).schedule_types)

    def make_scheduler(
        self,
        name: str,
        schedule_type: str,
        base_config: Mapping[str, object],
        *,
        noise_seed: int | None = None,
    ) -> SchedulerMixin:
        """A new scheduler for one job.

        ``base_config`` must be the checkpoint's own scheduler config (as loaded), so its prediction_type
        (v-prediction for SD 2.x-v), betas, timestep_spacing and steps_offset carry over. ``noise_seed`` seeds
        schedulers with their own noise source (DPMSolverSDEScheduler's Brownian tree) so seeds reproduce.
        """
        spec = self.resolve(name)
        requested = _canonical_schedule_type(schedule_type)
        if requested not in spec.schedule_types:
            raise UnsupportedScheduleTypeError(
                f"Sampler {spec.name!r} does not support the schedule type {requested!r}. "
                f"Schedule types for {spec.name!r}: {', '.join(spec.schedule_types)}."
            )
        effective = spec.default_schedule if requested == "Automatic" else requested

        params = _init_params(spec.scheduler_class) or frozenset()
        config = {k: v for k, v in base_config.items() if k not in _SOLVER_KEYS}
        kwargs: dict[str, object] = dict(spec.options)
        # Set every sigma flag, so "Automatic" after a Karras job really is the checkpoint's schedule.
        kwargs.update({flag: False for flag in _SIGMA_FLAGS if flag in params})
        if effective != "Automatic":
            kwargs.update(_SCHEDULE_CONFIG[effective])
        if noise_seed is not None and "noise_sampler_seed" in params:
            kwargs["noise_sampler_seed"] = noise_seed
        return spec.scheduler_class.from_config(config, **kwargs)


# diffusers' singlestep solver forces lower_order_final=True (with a warning per job) when the last sigma is 0.
_SINGLESTEP_SDE: Mapping[str, object] = MappingProxyType(
    {"algorithm_type": "sde-dpmsolver++", "solver_order": 2, "lower_order_final": True}
)


def _dpmpp_sde_spec(*, have_torchsde: bool) -> SamplerSpec:
    """A1111's "DPM++ SDE" is k-diffusion's sample_dpmpp_sde (2nd-order singlestep, Brownian-tree noise)."""
    if have_torchsde:
        from diffusers import DPMSolverSDEScheduler  # a dummy that raises on use when torchsde is missing

        return SamplerSpec("DPM++ SDE", DPMSolverSDEScheduler, aliases=("k_dpmpp_sde",), default_schedule="Karras")
    return SamplerSpec(
        "DPM++ SDE",
        DPMSolverSinglestepScheduler,
        _SINGLESTEP_SDE,
        aliases=("k_dpmpp_sde",),
        default_schedule="Karras",
        note="Approximation: torchsde is not installed, so this is diffusers' 2nd-order singlestep SDE solver "
        "(one model call per step, Gaussian noise) instead of k-diffusion's dpmpp_sde (two calls per "
        "step, Brownian-tree noise). Install torchsde for the faithful DPMSolverSDEScheduler.",
    )


def _default_specs(*, have_torchsde: bool) -> list[SamplerSpec]:
    """A1111's samplers in A1111's order; aliases are A1111's (what API clients send as sampler_index)."""
    dpm_2m = DPMSolverMultistepScheduler
    return [
        SamplerSpec(
            "DPM++ 2M",
            dpm_2m,
            {"algorithm_type": "dpmsolver++", "solver_order": 2},
            aliases=("k_dpmpp_2m",),
            default_schedule="Karras",
        ),
        _dpmpp_sde_spec(have_torchsde=have_torchsde),
        SamplerSpec(
            "DPM++ 2M SDE",
            dpm_2m,
            {"algorithm_type": "sde-dpmsolver++", "solver_order": 2, "solver_type": "midpoint"},
            aliases=("k_dpmpp_2m_sde",),
            default_schedule="Exponential",
        ),
        SamplerSpec(
            "DPM++ 2M SDE Heun",
            dpm_2m,
            {"algorithm_type": "sde-dpmsolver++", "solver_order": 2, "solver_type": "heun"},
            aliases=("k_dpmpp_2m_sde_heun",),
            default_schedule="Exponential",
        ),
        SamplerSpec(
            "DPM++ 2S a",
            DPMSolverSinglestepScheduler,
            _SINGLESTEP_SDE,
            aliases=("k_dpmpp_2s_a",),
            default_schedule="Karras",
            note="Approximation: diffusers has no 2S ancestral solver; this is its 2nd-order singlestep SDE "
            "solver, stochastic like 2S a, but one model call per step instead of two.",
        ),
        SamplerSpec(
            "DPM++ 3M SDE",
            dpm_2m,
            {"algorithm_type": "sde-dpmsolver++", "solver_order": 3},
            aliases=("k_dpmpp_3m_sde",),
            default_schedule="Exponential",
            note="Close: A1111 also drops the next-to-last sigma for 3M SDE; diffusers doesn't.",
        ),
        # EulerAncestralDiscreteScheduler has no sigma-schedule flags in diffusers 0.42: no Karras for "Euler a".
        SamplerSpec("Euler a", EulerAncestralDiscreteScheduler, aliases=("k_euler_a", "k_euler_ancestral")),
        SamplerSpec("Euler", EulerDiscreteScheduler, aliases=("k_euler",)),
        SamplerSpec("LMS", LMSDiscreteScheduler, aliases=("k_lms",)),
        SamplerSpec("Heun", HeunDiscreteScheduler, aliases=("k_heun",)),
        SamplerSpec(
            "DPM2",
            KDPM2DiscreteScheduler,
            aliases=("k_dpm_2",),
            note="Close: A1111 also drops the next-to-last sigma for DPM2; diffusers interpolates its own.",
        ),
        SamplerSpec(
            "DPM2 a",
            KDPM2AncestralDiscreteScheduler,
            aliases=("k_dpm_2_a",),
            note="Close: A1111 also drops the next-to-last sigma for DPM2 a; diffusers interpolates its own.",
        ),
        # A1111's DDIM never clips the predicted x0: latents aren't bounded to [-1, 1].
        SamplerSpec("DDIM", DDIMScheduler, {"clip_sample": False}),
        SamplerSpec(
            "PLMS",
            PNDMScheduler,
            {"skip_prk_steps": True},
            aliases=("PNDM",),
            note="PLMS = PNDM without Runge-Kutta warm-up; it makes N+1 model calls for N steps.",
        ),
        # A1111's UniPC defaults: variant bh1, order 3 (diffusers' defaults: bh2, order 2). A1111's UniPC stops at
        # the smallest trained sigma, not 0; diffusers' bh1 also needs that (its last step is NaN at sigma 0).
        SamplerSpec(
            "UniPC",
            UniPCMultistepScheduler,
            {"solver_type": "bh1", "solver_order": 3, "final_sigmas_type": "sigma_min"},
        ),
        # For LCM checkpoints/LoRAs; diffusers' LCM uses its own timestep skipping (at most 50 steps).
        SamplerSpec(
            "LCM",
            LCMScheduler,
            aliases=("k_lcm",),
            schedule_types=("Automatic",),
            note="diffusers' LCMScheduler picks timesteps from a 50-step skip schedule; A1111's LCM "
            "follows the chosen sigma schedule.",
        ),
        # For TCD LoRAs (Forge/ComfyUI's "TCD"). Its gamma (diffusers calls it eta) is how much fresh noise each
        # step adds: "Eta (DDIM)" sets it when not 0; otherwise diffusers' default 0.3 applies.
        SamplerSpec(
            "TCD",
            TCDScheduler,
            aliases=("k_tcd",),
            schedule_types=("Automatic",),
            note="Gamma comes from 'Eta (DDIM)' (0 means diffusers' default, 0.3); timesteps follow TCD's own "
            "50-step skip schedule whatever the schedule type.",
        ),
    ]
