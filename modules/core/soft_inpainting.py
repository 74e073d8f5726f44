"""Soft inpainting (A1111's built-in extension, also called differential diffusion): its settings, their
infotext names and the API's `alwayson_scripts["soft inpainting"]` args. The sampling itself is in
`modules.engine.soft_inpainting`.

A grey mask value m repaints that pixel in proportion: m = 0 keeps it exactly, m = 1 repaints it fully.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

SCRIPT_NAME = "soft inpainting"  # A1111's script title, lower-cased as alwayson_scripts keys are here
ENABLED_LABEL = "Soft inpainting enabled"


@dataclass(frozen=True)
class SoftInpainting:
    # A1111's names in comments; defaults and ranges are A1111's sliders'.
    schedule_bias: float = 1.0  # mask_blend_power: > 1 preserves more early in sampling, < 1 late
    preservation_strength: float = 0.5  # mask_blend_scale: higher keeps more of the original in grey areas
    transition_contrast_boost: float = 4.0  # inpaint_detail_preservation: blend magnitudes toward the larger one
    mask_influence: float = 0.0  # composite_mask_influence: how much the mask biases the difference composite
    difference_threshold: float = 0.5  # composite_difference_threshold: the change at which the original is 50%
    difference_contrast: float = 2.0  # composite_difference_contrast: how sharp that transition is


LABELS = {"schedule_bias": "Soft inpainting schedule bias",
          "preservation_strength": "Soft inpainting preservation strength",
          "transition_contrast_boost": "Soft inpainting transition contrast boost",
          "mask_influence": "Soft inpainting mask influence",
          "difference_threshold": "Soft inpainting difference threshold",
          "difference_contrast": "Soft inpainting difference contrast"}
RANGES = {"schedule_bias": (0.0, 8.0), "preservation_strength": (0.0, 8.0), "transition_contrast_boost": (1.0, 32.0),
          "mask_influence": (0.0, 1.0), "difference_threshold": (0.0, 8.0), "difference_contrast": (0.0, 8.0)}


def validate(settings: SoftInpainting) -> SoftInpainting:
    """The settings as floats within A1111's slider ranges, or a ValueError naming the field and its range."""
    values = {}
    for f in fields(settings):
        label, (low, high) = LABELS[f.name], RANGES[f.name]
        raw = getattr(settings, f.name)
        try:
            value = float(raw)
        except (TypeError, ValueError):
            raise ValueError(f"{label} must be a number, but is {raw!r}.") from None
        if not low <= value <= high:
            raise ValueError(f"{label} must be between {low:g} and {high:g}, but is {value:g}.")
        values[f.name] = value
    if values["difference_threshold"] == 0:
        raise ValueError(f"{LABELS['difference_threshold']} must be above 0: it divides the change measured.")
    return SoftInpainting(**values)


def infotext_params(settings: SoftInpainting) -> dict[str, Any]:
    params: dict[str, Any] = {ENABLED_LABEL: True}
    params.update({LABELS[f.name]: getattr(settings, f.name) for f in fields(settings)})
    return params


def from_infotext(params: dict[str, str]) -> SoftInpainting | None:
    """PNG Info's "Send to": the settings a picture was made with (None when it was made without)."""
    if str(params.get(ENABLED_LABEL, "")).lower() != "true":
        return None
    values = {f.name: float(params[LABELS[f.name]]) for f in fields(SoftInpainting) if LABELS[f.name] in params}
    return SoftInpainting(**values)


def from_script_args(value: Any) -> SoftInpainting | None:
    """A1111's API shape: `{"args": [enabled, schedule bias, preservation strength, transition contrast boost,
    mask influence, difference threshold, difference contrast]}` (later values may be left out: defaults)."""
    args = value.get("args", []) if isinstance(value, dict) else value
    if not isinstance(args, (list, tuple)):
        raise ValueError('alwayson_scripts["soft inpainting"] needs "args": [enabled, schedule bias, preservation '
                         "strength, transition contrast boost, mask influence, difference threshold, difference "
                         "contrast].")
    if not args or not args[0]:
        return None
    names = [f.name for f in fields(SoftInpainting)]
    if len(args) > 1 + len(names):
        raise ValueError(f'alwayson_scripts["soft inpainting"].args has {len(args)} values; it takes at most '
                         f"{1 + len(names)}: enabled, then {', '.join(LABELS[n] for n in names)}.")
    return validate(SoftInpainting(**dict(zip(names, args[1:]))))
