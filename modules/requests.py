"""The request object that flows from a tab or an API route through the core to the saved image.

Everything that decides the picture is in here (checkpoint, VAE, sampler, seeds, sizes...), never in
global state, so two users' jobs can't change each other's results. Plain data: standard library only.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field, fields, replace
from typing import Any

MODES = ("txt2img",)
MAX_SEED = 2**32 - 1
DEFAULT_SAMPLER = "Euler a"
DEFAULT_SCHEDULE = "Automatic"
VAE_AUTOMATIC = "Automatic"
VAE_NONE = "None"


class RequestError(ValueError):
    """A request that cannot run; the message is shown to the user as is."""


@dataclass(frozen=True)
class LoraRef:
    name: str
    weight: float = 1.0


@dataclass(frozen=True)
class GenerationRequest:
    prompt: str = ""
    negative_prompt: str = ""
    mode: str = "txt2img"
    checkpoint: str | None = None  # a checkpoint name or A1111 title; None = the user's default
    vae: str = VAE_AUTOMATIC
    sampler: str = DEFAULT_SAMPLER
    schedule_type: str = DEFAULT_SCHEDULE
    steps: int = 20
    cfg_scale: float = 7.0
    width: int = 512
    height: int = 512
    seed: int = -1
    subseed: int = -1
    subseed_strength: float = 0.0
    batch_count: int = 1
    batch_size: int = 1
    clip_skip: int = 1
    loras: tuple[LoraRef, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)  # per-extension values, by extension name

    def with_resolved_seeds(self, rng: random.Random | None = None) -> GenerationRequest:
        """Replace -1 seeds by concrete ones, so the job (and its infotext) can be reproduced."""
        rng = rng or random.Random()
        seed = self.seed if self.seed >= 0 else rng.randint(0, MAX_SEED)
        subseed = self.subseed if self.subseed >= 0 else rng.randint(0, MAX_SEED)
        return replace(self, seed=seed, subseed=subseed)

    @property
    def image_count(self) -> int:
        return self.batch_count * self.batch_size

    def seeds(self) -> list[int]:
        """A1111's seeds: image i of the whole job gets seed + i (and subseed + i)."""
        return [(self.seed + i) % (MAX_SEED + 1) for i in range(self.image_count)]

    def subseeds(self) -> list[int]:
        return [(self.subseed + i) % (MAX_SEED + 1) for i in range(self.image_count)]


@dataclass(frozen=True)
class Limits:
    max_size: int = 2048
    max_steps: int = 150
    max_batch_count: int = 100
    max_batch_size: int = 8
    max_cfg: float = 30.0


def _float(name: str, value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise RequestError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(number):  # Python's JSON accepts NaN and Infinity; int() of them would crash
        raise RequestError(f"{name} must be a finite number, got {value!r}")
    return number


def _int(name: str, value: Any) -> int:
    number = _float(name, value)
    if number != int(number):
        raise RequestError(f"{name} must be a whole number, got {value!r}")
    return int(number)


def validate(request: GenerationRequest, limits: Limits = Limits(), samplers: Any = None) -> GenerationRequest:
    """Check a request and return it with its numbers normalised; raise RequestError that teaches the fix.

    `samplers` (a SamplerRegistry) is optional so this module stays free of torch/diffusers.
    """
    ints = {name: _int(name, getattr(request, name)) for name in
            ("steps", "width", "height", "seed", "subseed", "batch_count", "batch_size", "clip_skip")}
    if request.mode not in MODES:
        raise RequestError(f"Unknown mode {request.mode!r}; expected one of {', '.join(MODES)}")
    for name in ("width", "height"):
        value = ints[name]
        if value % 8 or value < 8:
            raise RequestError(f"{name.capitalize()} has to be a positive multiple of 8, but is {value}. "
                               f"Try {max(8, round(value / 8) * 8)}.")
        if value > limits.max_size:
            raise RequestError(f"{name.capitalize()} {value} is over the limit of {limits.max_size} pixels.")
    if not 1 <= ints["steps"] <= limits.max_steps:
        raise RequestError(f"Steps must be between 1 and {limits.max_steps}, but is {ints['steps']}.")
    cfg = _float("CFG scale", request.cfg_scale)
    if not 0.0 <= cfg <= limits.max_cfg:
        raise RequestError(f"CFG scale must be between 0 and {limits.max_cfg}, but is {cfg:g}.")
    subseed_strength = _float("Variation strength", request.subseed_strength)
    if not 0.0 <= subseed_strength <= 1.0:
        raise RequestError(f"Variation strength must be between 0 and 1, but is {request.subseed_strength}.")
    if not 1 <= ints["batch_count"] <= limits.max_batch_count:
        raise RequestError(f"Batch count must be between 1 and {limits.max_batch_count}.")
    if not 1 <= ints["batch_size"] <= limits.max_batch_size:
        raise RequestError(f"Batch size must be between 1 and {limits.max_batch_size}.")
    if not 1 <= ints["clip_skip"] <= 12:
        raise RequestError(f"Clip skip must be between 1 and 12, but is {ints['clip_skip']}.")
    for name in ("seed", "subseed"):
        if not -1 <= ints[name] <= MAX_SEED:
            raise RequestError(f"{name.capitalize()} must be -1 (random) or between 0 and {MAX_SEED}.")
    sampler, schedule = request.sampler, request.schedule_type
    if samplers is not None:
        # The registry's errors (unknown sampler, unsupported schedule type) already list the choices.
        try:
            spec, schedule = samplers.resolve_with_schedule(sampler, schedule)
        except ValueError as exc:
            raise RequestError(str(exc)) from None
        if schedule not in spec.schedule_types:
            raise RequestError(f"Sampler {spec.name!r} does not support the schedule type {schedule!r}. "
                               f"Choose one of: {', '.join(spec.schedule_types)}.")
        sampler = spec.name
    return replace(request, cfg_scale=cfg, subseed_strength=subseed_strength, sampler=sampler,
                   schedule_type=schedule, **ints)


# Infotext keys (A1111's names) -> request fields, for PNG Info's "send to txt2img" and the API.
INFOTEXT_FIELDS = {
    "Steps": ("steps", int),
    "Sampler": ("sampler", str),
    "Schedule type": ("schedule_type", str),
    "CFG scale": ("cfg_scale", float),
    "Seed": ("seed", int),
    "Variation seed": ("subseed", int),
    "Variation seed strength": ("subseed_strength", float),
    "Clip skip": ("clip_skip", int),
    "VAE": ("vae", str),
}


def request_fields_from_infotext(prompt: str, negative_prompt: str, params: dict[str, str]) -> dict[str, Any]:
    """The request fields an infotext describes; values that don't parse are left out, not guessed."""
    out: dict[str, Any] = {"prompt": prompt, "negative_prompt": negative_prompt}
    for key, (name, kind) in INFOTEXT_FIELDS.items():
        if key in params:
            try:
                out[name] = kind(float(params[key])) if kind is int else kind(params[key])
            except ValueError:
                continue
    size = params.get("Size", "")
    if "x" in size:
        try:
            width, height = (int(v) for v in size.split("x", 1))
            out.update(width=width, height=height)
        except ValueError:
            pass
    if "Model" in params or "Model hash" in params:
        out["checkpoint"] = params.get("Model") or params.get("Model hash")
        out["checkpoint_hash"] = params.get("Model hash")
    return out


def request_field_names() -> list[str]:
    return [f.name for f in fields(GenerationRequest)]
