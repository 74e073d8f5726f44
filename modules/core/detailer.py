"""Detect and redraw (ADetailer's way): the settings of one detection unit, their infotext names, and the API's
`alwayson_scripts.ADetailer.args`. Finding the regions and redrawing them is `modules.engine.detailer`'s.

After a picture is made, each unit finds regions (faces, or what a user-supplied model finds), and each region is
inpainted again at the inpaint size with the unit's own prompt, denoising and seed (the picture's seed + the
region's index, as ADetailer does), then pasted back through a feathered mask: pixels outside the region stay
exactly as they were.

Field names are ADetailer's without the `ad_` prefix; infotext names are ADetailer's ("ADetailer prompt",
"ADetailer denoising strength 2nd", ...), so pictures and API calls move between the two.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields, replace
from typing import Any

SCRIPT_NAME = "adetailer"  # alwayson_scripts key, lower-cased as the API lower-cases them
BUILTIN_FACE = "face_lbp"  # scikit-image's LBP face cascade: ships inside scikit-image, no download
VERSION = "sdwebui-detailer-1"  # our version in "ADetailer version": these are not ADetailer's own numbers
MERGE_MODES = ("None", "Merge", "Merge and Invert")
SAME = ("", "none", "use same sampler", "use same scheduler", "use same checkpoint", "use same vae")


@dataclass(frozen=True)
class DetailerUnit:
    model: str = BUILTIN_FACE  # a detector: the built-in face detector or a file in models/adetailer
    prompt: str = ""  # empty: the picture's own prompt
    negative_prompt: str = ""  # empty: the picture's own negative prompt
    confidence: float = 0.3  # detections scored below are dropped (detectors without scores give 1.0)
    mask_k_largest: int = 0  # keep only the k largest regions (0 = all)
    mask_min_ratio: float = 0.0  # region area / picture area must lie within [min, max]
    mask_max_ratio: float = 1.0
    dilate_erode: int = 4  # pixels: > 0 grows each region, < 0 shrinks it
    x_offset: int = 0  # pixels to the right
    y_offset: int = 0  # pixels up (ADetailer's direction)
    mask_merge_invert: str = "None"  # MERGE_MODES: redraw the regions one by one, as one, or all but them
    mask_blur: int = 4  # the feather of the paste-back
    denoising_strength: float = 0.4
    inpaint_only_masked: bool = True  # crop around the region and work at the inpaint size (else whole picture)
    inpaint_only_masked_padding: int = 32
    use_inpaint_width_height: bool = False  # else the picture's own size
    inpaint_width: int = 512
    inpaint_height: int = 512
    use_steps: bool = False
    steps: int = 28
    use_cfg_scale: bool = False
    cfg_scale: float = 7.0
    use_sampler: bool = False
    sampler: str = "DPM++ 2M"
    scheduler: str = "Use same scheduler"
    use_clip_skip: bool = False
    clip_skip: int = 1


# (field, ADetailer's infotext name), in ADetailer's order
LABELS = (("model", "ADetailer model"), ("prompt", "ADetailer prompt"),
          ("negative_prompt", "ADetailer negative prompt"), ("confidence", "ADetailer confidence"),
          ("mask_k_largest", "ADetailer mask only top k largest"), ("mask_min_ratio", "ADetailer mask min ratio"),
          ("mask_max_ratio", "ADetailer mask max ratio"), ("x_offset", "ADetailer x offset"),
          ("y_offset", "ADetailer y offset"), ("dilate_erode", "ADetailer dilate erode"),
          ("mask_merge_invert", "ADetailer mask merge invert"), ("mask_blur", "ADetailer mask blur"),
          ("denoising_strength", "ADetailer denoising strength"),
          ("inpaint_only_masked", "ADetailer inpaint only masked"),
          ("inpaint_only_masked_padding", "ADetailer inpaint padding"),
          ("use_inpaint_width_height", "ADetailer use inpaint width height"),
          ("inpaint_width", "ADetailer inpaint width"), ("inpaint_height", "ADetailer inpaint height"),
          ("use_steps", "ADetailer use separate steps"), ("steps", "ADetailer steps"),
          ("use_cfg_scale", "ADetailer use separate CFG scale"), ("cfg_scale", "ADetailer CFG scale"),
          ("use_sampler", "ADetailer use separate sampler"), ("sampler", "ADetailer sampler"),
          ("scheduler", "ADetailer scheduler"), ("use_clip_skip", "ADetailer use separate CLIP skip"),
          ("clip_skip", "ADetailer CLIP skip"))
# A switch and the values it governs: written (and read back) only when the switch is on, as ADetailer does.
SWITCHES = {"inpaint_only_masked": ("inpaint_only_masked_padding",),
            "use_inpaint_width_height": ("inpaint_width", "inpaint_height"), "use_steps": ("steps",),
            "use_cfg_scale": ("cfg_scale",), "use_sampler": ("sampler", "scheduler"), "use_clip_skip": ("clip_skip",)}
# ADetailer's fields this WebUI does not do, with the value that means "off" and why: sent on, they are refused.
UNSUPPORTED = {"ad_model_classes": ("", "model classes are for YOLO-World models, which need ultralytics"),
               "ad_use_checkpoint": (False, "a separate checkpoint per unit is not supported: the job's is used"),
               "ad_use_vae": (False, "a separate VAE per unit is not supported: the job's is used"),
               "ad_use_noise_multiplier": (False, "the noise multiplier is not supported"),
               "ad_restore_face": (False, "face restoration inside a unit is not supported: use Restore faces"),
               "ad_controlnet_model": ("None", "ControlNet inside a unit is not supported")}
# ADetailer's fields that only matter when one of the unsupported switches above is on, or that carry no setting.
INERT = {"ad_tab_enable", "ad_tap_enable", "ad_checkpoint", "ad_vae", "ad_noise_multiplier", "ad_controlnet_module",
         "ad_controlnet_weight", "ad_controlnet_guidance_start", "ad_controlnet_guidance_end", "is_api"}


# ADetailer's prompt syntax: "[SEP]" gives each detected region (in detection order) its own prompt, the last one
# serving every region after it; "[PROMPT]" stands for the picture's own prompt, as does an empty part; a part
# that is only "[SKIP]" leaves its region as drawn.
SEPARATOR = re.compile(r"\s*\[SEP\]\s*")
MAIN_PROMPT = "[PROMPT]"
SKIP = "[SKIP]"


def region_prompt(text: str, main: str, index: int) -> str:
    """The prompt of the region at `index` (0 = the first detected) from a unit's prompt and the picture's own."""
    parts = SEPARATOR.split(text)
    part = parts[min(index, len(parts) - 1)]
    return part.replace(MAIN_PROMPT, main) if part.strip() else main


def skipped(prompt: str) -> bool:
    """Whether a region's prompt asks to leave it as drawn (ADetailer's "[SKIP]")."""
    return prompt.strip() == SKIP


def suffix(index: int) -> str:
    """ADetailer's infotext suffix of the unit at `index`: "", " 2nd", " 3rd", " 4th", ..."""
    if index == 0:
        return ""
    n = index + 1
    end = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f" {n}{end}"


def _number(label: str, value: Any, kind: type, low: float, high: float) -> Any:
    if isinstance(value, bool) or value is None:
        raise ValueError(f"{label} must be a number, but is {value!r}.")
    try:
        number = kind(float(value)) if kind is int else kind(value)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"{label} must be a number, but is {value!r}.") from None
    if kind is int and float(value) != number:
        raise ValueError(f"{label} must be a whole number, but is {value!r}.")
    if not low <= number <= high:
        raise ValueError(f"{label} must be between {low:g} and {high:g}, but is {number:g}.")
    return number


def validate(unit: DetailerUnit, index: int = 0, max_size: int = 2048, max_steps: int = 150,
             max_cfg: float = 30.0) -> DetailerUnit:
    """The unit with its numbers checked and normalised, or a ValueError naming the unit, the field and the range.
    The model and sampler names are checked against what the server has (`modules.engine.detailer`)."""
    name = f"ADetailer unit {index + 1}"
    size = max_size
    numbers = {"confidence": (float, 0, 1), "mask_k_largest": (int, 0, 1000), "mask_min_ratio": (float, 0, 1),
               "mask_max_ratio": (float, 0, 1), "dilate_erode": (int, -256, 256), "x_offset": (int, -size, size),
               "y_offset": (int, -size, size), "mask_blur": (int, 0, 64), "denoising_strength": (float, 0, 1),
               "inpaint_only_masked_padding": (int, 0, size), "inpaint_width": (int, 8, size),
               "inpaint_height": (int, 8, size), "steps": (int, 1, max_steps), "cfg_scale": (float, 0, max_cfg),
               "clip_skip": (int, 1, 12)}
    labels = dict(LABELS)
    values: dict[str, Any] = {key: _number(f"{name}: {labels[key]}", getattr(unit, key), *spec)
                              for key, spec in numbers.items()}
    if values["mask_min_ratio"] > values["mask_max_ratio"]:
        raise ValueError(f"{name}: the mask min ratio ({values['mask_min_ratio']:g}) is above the max ratio "
                         f"({values['mask_max_ratio']:g}): no region could be kept.")
    for key in ("inpaint_width", "inpaint_height"):
        if values[key] % 8:
            raise ValueError(f"{name}: {labels[key]} has to be a multiple of 8, but is {values[key]}. "
                             f"Try {round(values[key] / 8) * 8}.")
    if unit.use_inpaint_width_height and not unit.inpaint_only_masked:
        raise ValueError(f"{name}: a separate inpaint width and height works with 'Inpaint only masked'; turn that "
                         "on, or turn the separate size off (the whole picture is redrawn at its own size).")
    if unit.mask_merge_invert not in MERGE_MODES:
        raise ValueError(f"{name}: mask merge invert must be one of {', '.join(MERGE_MODES)}, "
                         f"but is {unit.mask_merge_invert!r}.")
    texts = {key: str(getattr(unit, key) or "") for key in ("model", "prompt", "negative_prompt", "sampler",
                                                              "scheduler")}
    if not texts["model"].strip() or texts["model"].strip().lower() == "none":
        raise ValueError(f"{name} has no detection model. Choose one, or leave the unit out.")
    switches = {key: bool(getattr(unit, key)) for key in SWITCHES}
    texts["model"] = texts["model"].strip()
    return replace(unit, **values, **texts, **switches)


def infotext_params(units: tuple[DetailerUnit, ...]) -> dict[str, Any]:
    """ADetailer's infotext fields for the units: defaults and values of switches that are off left out."""
    params: dict[str, Any] = {}
    for index, unit in enumerate(units):
        defaults = DetailerUnit()
        hidden = {value for switch, governed in SWITCHES.items() if not getattr(unit, switch) for value in governed}
        hidden |= {switch for switch in SWITCHES if switch != "inpaint_only_masked" and not getattr(unit, switch)}
        for key, label in LABELS:
            value = getattr(unit, key)
            if key in hidden or (key in ("prompt", "negative_prompt") and not value):
                continue
            if key in ("mask_k_largest", "mask_min_ratio", "mask_max_ratio", "x_offset", "y_offset",
                       "mask_merge_invert") and value == getattr(defaults, key):
                continue
            if key == "scheduler" and value.lower() in SAME:
                continue
            params[label + suffix(index)] = value
    if units:
        params["ADetailer version"] = VERSION
    return params


def _typed(key: str, text: str) -> Any:
    kind = type(getattr(DetailerUnit(), key))
    if kind is bool:
        return text.strip().lower() == "true"
    return kind(float(text)) if kind is int else kind(text)


def from_infotext(params: dict[str, str]) -> tuple[DetailerUnit, ...]:
    """PNG Info's "Send to": the units a picture was made with (values that don't parse keep their default)."""
    units = []
    for index in range(100):
        end = suffix(index)
        if "ADetailer model" + end not in params:
            break
        values: dict[str, Any] = {"inpaint_only_masked": False}  # written whenever it is on
        for key, label in LABELS:
            if label + end in params:
                try:
                    values[key] = _typed(key, str(params[label + end]))
                except (TypeError, ValueError):
                    continue
        for switch, governed in SWITCHES.items():
            if switch != "inpaint_only_masked" and any(label + end in params for key, label in LABELS
                                                       if key in governed):
                values[switch] = True
        units.append(DetailerUnit(**values))
    return tuple(units)


def _unit_from_dict(arg: dict[str, Any], index: int) -> DetailerUnit | None:
    known = {f"ad_{f.name}" for f in fields(DetailerUnit)}
    unknown = sorted(str(k) for k in arg if k not in known and k not in UNSUPPORTED and k not in INERT)
    if unknown:
        raise ValueError(f"ADetailer unit {index + 1} has unknown fields: {', '.join(unknown)}. Known fields: "
                         f"{', '.join(sorted(known))}.")
    if arg.get("ad_tab_enable", arg.get("ad_tap_enable", True)) is False:
        return None
    if str(arg.get("ad_model", BUILTIN_FACE)).strip().lower() in ("none", ""):
        return None  # ADetailer's way of leaving a unit off
    for key, (off, why) in UNSUPPORTED.items():
        value = arg.get(key, off)
        if value not in (off, None) and not (isinstance(value, str) and value.strip().lower() in ("", "none")):
            raise ValueError(f"ADetailer unit {index + 1}: {key} = {value!r} was refused: {why}. Send {off!r} "
                             "or leave it out.")
    return DetailerUnit(**{key[3:]: value for key, value in arg.items() if key in known})


def from_script_args(value: Any) -> tuple[tuple[DetailerUnit, ...], bool]:
    """ADetailer's API shape, `{"args": [enable, skip_img2img, {"ad_model": ..., ...}, ...]}` (both flags may be
    left out) -> (the units turned on, skip_img2img). Raises ValueError naming what is wrong."""
    args = value.get("args", []) if isinstance(value, dict) else value
    if not isinstance(args, (list, tuple)):
        raise ValueError('alwayson_scripts.ADetailer needs "args": [enable, skip_img2img, {"ad_model": ...}, ...].')
    args = list(args)
    enabled, skip = True, False
    if args and isinstance(args[0], bool):
        enabled = args.pop(0)
        if args and isinstance(args[0], bool):
            skip = args.pop(0)
    if not enabled:
        return (), False
    units = []
    for index, arg in enumerate(args):
        if not isinstance(arg, dict):
            raise ValueError(f"alwayson_scripts.ADetailer.args: unit {index + 1} must be an object like "
                             f'{{"ad_model": "{BUILTIN_FACE}", "ad_prompt": "..."}}, but is {arg!r}.')
        unit = _unit_from_dict(arg, index)
        if unit is not None:
            units.append(unit)
    return tuple(units), skip
