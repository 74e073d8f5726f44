"""Samplers and schedules for flow-matching models (Flux, SD 3.x), under the names Forge and ComfyUI users know.

A flow model predicts a velocity along a straight path from noise to picture, so the SD samplers (which assume
epsilon or v prediction over a discrete beta schedule) do not apply. Each sampler here is diffusers'
FlowMatchEulerDiscreteScheduler with options, built from the checkpoint's own scheduler config, so its time shift
(fixed, as SD 3.x's 3.0, or by resolution, as Flux-dev's `use_dynamic_shifting`) stays the model's:

- "Euler": the plain flow Euler step (Forge's and ComfyUI's `euler` on these models);
- "Euler a": diffusers' stochastic sampling, which re-noises the predicted picture to the next noise level each
  step (ComfyUI's `euler_ancestral` with eta 1 on a flow model does the same);
- schedules: "Simple" (the model's shifted linear sigmas: ComfyUI's `simple`), "Karras", "Exponential" and
  "Beta" (ComfyUI's `beta`, alpha = beta = 0.6), each computed on the shifted sigma range; "Automatic" = Simple.

Other SD sampler names are refused for these models with the list of those that work, never approximated.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from diffusers import FlowMatchEulerDiscreteScheduler

FLOW_SAMPLERS: Mapping[str, Mapping[str, Any]] = {
    "Euler": {"stochastic_sampling": False},
    "Euler a": {"stochastic_sampling": True},
}
FLOW_SCHEDULES: Mapping[str, Mapping[str, Any]] = {
    "Automatic": {},
    "Simple": {},
    "Karras": {"use_karras_sigmas": True},
    "Exponential": {"use_exponential_sigmas": True},
    "Beta": {"use_beta_sigmas": True},
}
_FLAGS = ("use_karras_sigmas", "use_exponential_sigmas", "use_beta_sigmas", "stochastic_sampling")


class SeededFlowScheduler(FlowMatchEulerDiscreteScheduler):
    """The flow Euler scheduler drawing Euler a's noise from the job's per-image generators: diffusers' pipelines
    call `step` without a generator, which would draw from torch's global RNG and make the picture unrepeatable."""

    generators: list[Any] | None = None

    def step(self, *args: Any, generator: Any = None, **kwargs: Any) -> Any:
        return super().step(*args, generator=generator or self.generators, **kwargs)


class FlowSamplerError(ValueError):
    """A sampler or schedule a flow model cannot use; the message lists those it can."""


def check(sampler: str, schedule: str, model_label: str) -> None:
    if sampler not in FLOW_SAMPLERS:
        raise FlowSamplerError(f"Sampler {sampler!r} is not available for {model_label} (a flow-matching model). "
                               f"Choose one of: {', '.join(FLOW_SAMPLERS)}.")
    if schedule not in FLOW_SCHEDULES:
        raise FlowSamplerError(f"Schedule type {schedule!r} is not available for {model_label}. "
                               f"Choose one of: {', '.join(FLOW_SCHEDULES)}.")


def make_scheduler(sampler: str, schedule: str, base_config: Mapping[str, Any], model_label: str = "this model"
                   ) -> SeededFlowScheduler:
    """A fresh scheduler for one job: the checkpoint's config (its shift) with the sampler's and schedule's options."""
    check(sampler, schedule, model_label)
    config = {k: v for k, v in base_config.items() if k not in _FLAGS}
    config.update({flag: False for flag in _FLAGS})
    config.update(FLOW_SAMPLERS[sampler])
    config.update(FLOW_SCHEDULES[schedule])
    return SeededFlowScheduler.from_config(config)


def shift_of(config: Mapping[str, Any]) -> str:
    """The time shift as the infotext writes it: a number, or "dynamic" (by resolution, Flux-dev's rule)."""
    if config.get("use_dynamic_shifting"):
        return "dynamic"
    return f"{float(config.get('shift', 1.0)):g}"
