"""Validation of a request before it is queued: every field checked against the limits, with an error that says
what to send instead (RequestError), and pictures normalised (masks, sizes). `validate` is the one entry point
the tabs and the API call; the smaller checks are shared with routes that take a picture or a prompt alone.
"""

from __future__ import annotations

import math
from dataclasses import fields, replace
from typing import Any

from PIL import Image

from modules.core import additional_modules
from modules.core.detailer import DetailerUnit
from modules.core.detailer import validate as validate_detailer
from modules.core.prompts import editing_syntax_count
from modules.core import regions as regions_core
from modules.core.regions import Region, RegionError
from modules.core.requests import CONTROL_HR_OPTIONS, CONTROL_MODES, CONTROL_RESIZE_MODES, ControlUnit, DECODE_METHODS
from modules.core.requests import GenerationRequest, IMAGE_MODES, Limits, MASKED_CONTENT, MAX_DEEPCACHE_INTERVAL
from modules.core.requests import MAX_SEED, MODES, OUTPAINT_FILLS, RESIZE_MODES, RequestError, STEP_CACHES
from modules.core.soft_inpainting import validate as validate_soft


def _float(name: str, value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: an int past 1e308
        raise RequestError(f"{name} must be a number, got {repr(value)[:60]}") from None
    if not math.isfinite(number):  # Python's JSON accepts NaN and Infinity; int() of them would crash
        raise RequestError(f"{name} must be a finite number, got {value!r}")
    return number


def _int(name: str, value: Any) -> int:
    number = _float(name, value)
    if number != int(number):
        raise RequestError(f"{name} must be a whole number, got {value!r}")
    return int(number)


def check_unicode(name: str, text: str) -> None:
    """Refuse text that cannot be written as UTF-8: JSON's "\\ud800" escapes give Python strings holding lone
    surrogates, which fail in the tokenizer, the PNG text chunk and the JSON answer (as a 500)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise RequestError(f"{name} holds a lone surrogate ({text[exc.start]!r}) at character {exc.start + 1}, "
                           "which is not a character. Send valid UTF-8 text (in JSON, a \\ud83d escape must be "
                           "followed by its low half, e.g. \\ud83d\\ude00).") from None


PROMPT_FIELDS = (("prompt", "Prompt"), ("negative_prompt", "Negative prompt"), ("hr_prompt", "Hires prompt"),
                 ("hr_negative_prompt", "Hires negative prompt"))


def check_prompt(name: str, text: Any, limits: Limits = Limits()) -> None:
    """A prompt the worker can read quickly: text, within the length, and within the bracket budget of the
    prompt-editing grammar (whose parse time grows with them)."""
    if not isinstance(text, str):
        raise RequestError(f"{name} must be text, got {type(text).__name__}.")
    check_unicode(name, text)
    if len(text) > limits.max_prompt_length:
        raise RequestError(f"{name} is {len(text):,} characters long, over the limit of {limits.max_prompt_length:,} "
                           "characters. Shorten it.")
    count = editing_syntax_count(text)
    if count > limits.max_prompt_brackets:
        raise RequestError(f"{name} uses prompt editing ([...]) and has {count:,} of its brackets, colons and bars "
                           f"([ ] ( ) : |), over the limit of {limits.max_prompt_brackets:,}: each one adds to the "
                           "time it takes to read the prompt. Remove some, or write \\[ \\( for literal brackets.")


def _check_texts(request: GenerationRequest, limits: Limits) -> None:
    for name, label in PROMPT_FIELDS:
        check_prompt(label, getattr(request, name), limits)
    for f in fields(request):
        value = getattr(request, f.name)
        if isinstance(value, str):
            check_unicode(f.name.replace("_", " ").capitalize(), value)
    for lora in request.loras:
        check_unicode("A LoRA name", str(lora.name))


def _pictures_of(request: GenerationRequest) -> list[Any]:
    """Every picture the request uses: input pictures, mask, ControlNet images."""
    pictures: list[Any] = []
    if request.mode in IMAGE_MODES:
        pictures += list(request.init_images or ())
        if request.mode == "inpaint" and request.mask is not None:
            pictures.append(request.mask)
    pictures += [unit.image for unit in request.control_units if unit.enabled and unit.image is not None]
    return pictures


def check_picture_budget(sizes: list[tuple[int, int]], limits: Limits, what: str = "The request") -> None:
    """Refuse more pictures, or more pixels all together, than one request may hold while it waits in the queue.
    `sizes` come from the pictures' headers, so nothing has been decoded yet."""
    if len(sizes) > limits.max_input_images:
        raise RequestError(f"{what} has {len(sizes)} pictures; at most {limits.max_input_images} are allowed in one "
                           "request. Send fewer, or split them over several requests.")
    total = sum(w * h for w, h in sizes)
    if total > limits.max_input_pixels:
        listed = ", ".join(f"{w}x{h}" for w, h in sizes[:8]) + (", ..." if len(sizes) > 8 else "")
        raise RequestError(f"{what}'s pictures hold {total:,} pixels ({listed}), over the limit of "
                           f"{limits.max_input_pixels:,} pixels per request. Send fewer or smaller pictures.")


def _check_picture_budget(request: GenerationRequest, limits: Limits) -> None:
    pictures = [image for image in _pictures_of(request) if isinstance(image, Image.Image)]
    check_picture_budget([image.size for image in pictures], limits)


def validate(request: GenerationRequest, limits: Limits = Limits(), samplers: Any = None) -> GenerationRequest:
    """Check a request and return it with its numbers normalised; raise RequestError that teaches the fix.

    `samplers` (a SamplerRegistry) is optional so this module stays free of torch/diffusers.
    """
    _check_texts(request, limits)
    _check_picture_budget(request, limits)  # from the pictures' headers, before any pixel is decoded
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
    distilled = None if request.distilled_cfg_scale is None else _float("Distilled CFG Scale",
                                                                         request.distilled_cfg_scale)
    if distilled is not None and not 0.0 <= distilled <= limits.max_cfg:
        raise RequestError(f"Distilled CFG Scale must be between 0 and {limits.max_cfg}, but is {distilled:g}.")
    subseed_strength = _float("Variation strength", request.subseed_strength)
    if not 0.0 <= subseed_strength <= 1.0:
        raise RequestError(f"Variation strength must be between 0 and 1, but is {request.subseed_strength}.")
    if not 1 <= ints["batch_count"] <= limits.max_batch_count:
        raise RequestError(f"Batch count must be between 1 and {limits.max_batch_count}.")
    if not 1 <= ints["batch_size"] <= limits.max_batch_size:
        raise RequestError(f"Batch size must be between 1 and {limits.max_batch_size}.")
    if not 1 <= ints["clip_skip"] <= 12:
        raise RequestError(f"Clip skip must be between 1 and 12, but is {ints['clip_skip']}.")
    _check_a1111_settings(request)
    _check_fast_paths(request)
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
    return replace(request, cfg_scale=cfg, distilled_cfg_scale=distilled, subseed_strength=subseed_strength,
                   sampler=sampler,
                   schedule_type=schedule, **ints, **_validate_images(request, limits),
                   control_units=_validate_units(request, limits), **_validate_hires(replace(request, **ints), limits),
                   **_validate_refiner(request), detailer=_validate_detailer(request, limits),
                   regions=_validate_regions(request, limits), additional_modules=_validate_modules(request))


def _validate_regions(request: GenerationRequest, limits: Limits) -> tuple[Region, ...]:
    """The regions checked (see modules.core.regions), with their prompts held to the prompt limits."""
    if not request.regions:
        return ()
    try:
        regions = regions_core.validate_regions(request.regions)
    except RegionError as exc:
        raise RequestError(str(exc)) from None
    for n, region in enumerate(regions, start=1):
        check_prompt(f"Region {n}'s prompt", region.prompt, limits)
    if request.mode == "inpaint" and request.inpaint_full_res:
        raise RequestError("Regions are fractions of the whole picture, but 'Only masked' inpaints a crop of it: "
                           "choose Inpaint area: Whole picture, or turn the regions off.")
    name = "" if request.refiner_checkpoint is None else str(request.refiner_checkpoint).strip()
    if name.casefold() not in NO_REFINER:
        raise RequestError("Regions cannot be combined with a refiner yet: the refiner's steps would draw without "
                           "them. Choose Refiner: None, or turn the regions off.")
    return regions


def _validate_detailer(request: GenerationRequest, limits: Limits) -> tuple[DetailerUnit, ...]:
    try:
        return tuple(validate_detailer(unit, i, limits.max_size, limits.max_steps, limits.max_cfg)
                     for i, unit in enumerate(request.detailer or ()))
    except ValueError as exc:
        raise RequestError(str(exc)) from None


def _validate_modules(request: GenerationRequest) -> tuple[str, ...]:
    try:
        return additional_modules.check(request.additional_modules)
    except additional_modules.ModulesError as exc:
        raise RequestError(str(exc)) from None


def _check_fast_paths(request: GenerationRequest) -> None:
    if request.vae_decode_method not in DECODE_METHODS:
        raise RequestError(f"Decode method must be one of {', '.join(DECODE_METHODS)}, but is "
                           f"{request.vae_decode_method!r}. TAESD needs its tiny decoder in models/VAE-approx.")
    interval = _int("DeepCache interval", request.deepcache_interval)
    if interval < 0 or interval == 1 or interval > MAX_DEEPCACHE_INTERVAL:
        raise RequestError(f"DeepCache interval must be 0 (off) or from 2 to {MAX_DEEPCACHE_INTERVAL}, but is "
                           f"{request.deepcache_interval}. 3 is a good start: the full UNet runs every third step.")
    if request.step_cache not in ("", *STEP_CACHES):
        raise RequestError(f"Step cache must be one of {', '.join(STEP_CACHES)} (or empty for none), but is "
                           f"{request.step_cache!r}. FirstBlockCache is a good start.")
    if request.step_cache and request.deepcache_interval:
        raise RequestError("Choose DeepCache (for UNet models) or a step cache (for transformer models), not both.")


def _check_a1111_settings(request: GenerationRequest) -> None:
    ensd = _int("ETA noise seed delta", request.eta_noise_seed_delta)
    if not 0 <= ensd <= MAX_SEED:
        raise RequestError(f"ETA noise seed delta must be between 0 and {MAX_SEED}, but is {ensd}.")
    for name, label in (("eta_ddim", "Eta for DDIM"),
                        ("inpainting_mask_weight", "Inpainting conditioning mask strength")):
        value = _float(label, getattr(request, name))
        if not 0.0 <= value <= 1.0:
            raise RequestError(f"{label} must be between 0 and 1, but is {value:g}.")
    for name, label in (("aesthetic_score", "SDXL high aesthetic score"),
                        ("negative_aesthetic_score", "SDXL low aesthetic score")):
        value = _float(label, getattr(request, name))
        if not 0.0 <= value <= 10.0:  # the refiner was trained on scores of 0-10 (LAION aesthetics)
            raise RequestError(f"{label} must be between 0 and 10, but is {value:g} (A1111's defaults: 6 and 2.5).")


def hires_size(request: GenerationRequest) -> tuple[int, int, int, int]:
    """(width, height) the first pass is upscaled to, then the (width, height) kept: A1111's rule. A resize
    with both sides set covers the target keeping the ratio, and the middle is kept (A1111 crops latents)."""
    width, height = request.width, request.height
    x, y = request.hr_resize_x, request.hr_resize_y
    if x == 0 and y == 0:
        to = (int(width * request.hr_scale), int(height * request.hr_scale))
        return (*to, *to)
    if y == 0:
        return x, x * height // width, x, x * height // width
    if x == 0:
        return y * width // height, y, y * width // height, y
    if width / height < x / y:
        return x, x * height // width, x, y
    return y * width // height, y, x, y


def _validate_hires(request: GenerationRequest, limits: Limits) -> dict[str, Any]:
    """The hires fields, checked and normalised (nothing when the hires fix is off)."""
    if not request.enable_hr or request.mode != "txt2img":
        return {"enable_hr": False} if request.mode != "txt2img" else {}
    scale = _float("Upscale by", request.hr_scale)
    steps = _int("Hires steps", request.hr_second_pass_steps)
    resize = {name: _int(label, getattr(request, name)) for name, label in
              (("hr_resize_x", "Resize width to"), ("hr_resize_y", "Resize height to"))}
    strength = _float("Denoising strength", request.denoising_strength)
    if not 1.0 <= scale <= 8.0:
        raise RequestError(f"Hires upscale by must be between 1 and 8, but is {scale:g}.")
    if not 0 <= steps <= limits.max_steps:
        raise RequestError(f"Hires steps must be between 0 (same as the first pass) and {limits.max_steps}, "
                           f"but is {steps}.")
    if any(not 0 <= v <= limits.max_size for v in resize.values()):
        raise RequestError(f"Hires resize width and height must be between 0 and {limits.max_size}.")
    if not 0.0 <= strength <= 1.0:
        raise RequestError(f"Denoising strength must be between 0 and 1, but is {request.denoising_strength}.")
    cfg = None if request.hr_cfg is None else _float("Hires CFG scale", request.hr_cfg)
    if cfg is not None and not 0.0 <= cfg <= limits.max_cfg:
        raise RequestError(f"Hires CFG scale must be between 0 and {limits.max_cfg}, but is {cfg:g}.")
    checked = replace(request, hr_scale=scale, **resize)
    to_w, to_h, width, height = hires_size(checked)
    if max(to_w, to_h) > limits.max_size:
        raise RequestError(f"The hires fix would upscale {request.width}x{request.height} to {to_w}x{to_h}, over "
                           f"the limit of {limits.max_size} pixels. Lower 'Upscale by' or the resize size.")
    if min(width, height) < 8:
        raise RequestError(f"The hires fix would make a {width}x{height} picture; it needs at least 8 pixels a side.")
    return {"enable_hr": True, "hr_scale": scale, "hr_second_pass_steps": steps, "denoising_strength": strength,
            "hr_cfg": cfg, "hr_upscaler": str(request.hr_upscaler or "Latent"), **resize}


NO_REFINER = ("", "none")  # A1111's UI offers "None"; its API clients send null, "" or "None"


def _validate_refiner(request: GenerationRequest) -> dict[str, Any]:
    """The refiner's name, and its switch point when there is one (A1111 ignores the point without a refiner)."""
    name = "" if request.refiner_checkpoint is None else str(request.refiner_checkpoint).strip()
    if name.casefold() in NO_REFINER:
        return {"refiner_checkpoint": ""}
    check_unicode("Refiner checkpoint", name)
    switch = _float("Refiner switch at", request.refiner_switch_at)
    if not 0.0 < switch < 1.0:
        raise RequestError(f"Refiner switch at must be between 0 and 1 (both excluded), but is {switch:g}: it is the "
                           "fraction of the steps after which the refiner takes over (0.8 with 20 steps: the "
                           "checkpoint makes 16 steps, the refiner 4). For no refiner, choose 'None'.")
    return {"refiner_checkpoint": name, "refiner_switch_at": switch}


def _validate_units(request: GenerationRequest, limits: Limits) -> tuple[ControlUnit, ...]:
    """Enabled ControlNet units, checked and normalised; disabled ones are dropped (they change nothing)."""
    units = []
    for n, unit in enumerate(request.control_units, start=1):
        if not unit.enabled:
            continue
        name = f"ControlNet unit {n}"
        if not unit.model:
            raise RequestError(f"{name} is enabled but has no model. Choose a ControlNet model, or disable the unit.")
        if unit.image is None and request.mode not in IMAGE_MODES:
            raise RequestError(f"{name} has no control image. Upload or draw one (only img2img can use its input "
                               "picture as the control image).")
        if unit.image is not None:
            check_picture(f"{name}'s image", unit.image, limits)
        weight = _float(f"{name} weight", unit.weight)
        if not 0.0 <= weight <= 2.0:
            raise RequestError(f"{name} weight must be between 0 and 2, but is {weight:g}.")
        start, end = _float(f"{name} starting step", unit.guidance_start), _float(f"{name} ending step", unit.guidance_end)
        if not 0.0 <= start <= end <= 1.0:
            raise RequestError(f"{name}: the starting and ending control steps must satisfy 0 <= start <= end <= 1, "
                               f"but are {start:g} and {end:g}.")
        resolution = _int(f"{name} preprocessor resolution", unit.processor_res)
        if not 64 <= resolution <= limits.max_size:
            raise RequestError(f"{name} preprocessor resolution must be between 64 and {limits.max_size}, "
                               f"but is {resolution}.")
        units.append(replace(unit, weight=weight, guidance_start=start, guidance_end=end, processor_res=resolution,
                             control_mode=_choice(f"{name} control mode", unit.control_mode, CONTROL_MODES),
                             resize_mode=_choice(f"{name} resize mode", unit.resize_mode, CONTROL_RESIZE_MODES),
                             hr_option=_choice(f"{name} hires-fix option", unit.hr_option, CONTROL_HR_OPTIONS),
                             threshold_a=None if unit.threshold_a is None else _float(f"{name} threshold A", unit.threshold_a),
                             threshold_b=None if unit.threshold_b is None else _float(f"{name} threshold B", unit.threshold_b),
                             pixel_perfect=bool(unit.pixel_perfect), module=str(unit.module or "none")))
    return tuple(units)


def as_mask(image: Image.Image) -> Image.Image:
    """A mask as an "L" picture, 255 = repaint. A picture with transparency gives its alpha, binarised at 50%
    (A1111's API rule: opaque = repaint); any other picture is converted to greyscale (white = repaint)."""
    if image.mode in ("RGBA", "LA", "PA") and image.getchannel("A").getextrema() != (255, 255):
        return image.getchannel("A").point(lambda v: 255 if v > 128 else 0)
    return image.convert("L")


def _choice(name: str, value: Any, names: tuple[str, ...]) -> int:
    """An index into `names`, given as the index or (case-insensitively) as the name."""
    if isinstance(value, str) and not value.strip().lstrip("-").isdigit():
        folded = [n.casefold() for n in names]
        if value.strip().casefold() in folded:
            return folded.index(value.strip().casefold())
    else:
        index = _int(name, value)
        if 0 <= index < len(names):
            return index
    choices = ", ".join(f"{i} ({n})" for i, n in enumerate(names))
    raise RequestError(f"{name} must be one of {choices}, but is {value!r}.")


def check_picture(name: str, image: Any, limits: Limits) -> None:
    if not isinstance(image, Image.Image):
        raise RequestError(f"{name} is not a picture (got {type(image).__name__}).")
    check_picture_size(name, image.size, limits)  # from the header: a lazily opened picture is not decoded yet
    try:
        image.load()  # a truncated file fails here, not halfway through the job
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise RequestError(f"{name} could not be read ({exc}). Upload a complete PNG, JPEG or WebP file.") from None


def check_picture_size(name: str, size: tuple[int, int], limits: Limits = Limits()) -> None:
    width, height = size
    if max(width, height) > limits.max_input_side:
        raise RequestError(f"{name} is {width}x{height} pixels, over the limit of {limits.max_input_side} pixels "
                           "per side. Scale it down first.")
    if min(width, height) < 1:
        raise RequestError(f"{name} is empty ({width}x{height} pixels).")
    if width * height > limits.max_input_pixels:
        raise RequestError(f"{name} is {width}x{height} = {width * height:,} pixels, over the limit of "
                           f"{limits.max_input_pixels:,} pixels per request. Scale it down first.")


def _validate_images(request: GenerationRequest, limits: Limits) -> dict[str, Any]:
    """The img2img/inpaint fields, checked and normalised (nothing for txt2img, which ignores them)."""
    if request.mode not in IMAGE_MODES:
        return {}
    images = tuple(request.init_images or ())
    if not images:
        raise RequestError(f"{request.mode} needs an input picture: upload one, or send one from txt2img.")
    for i, image in enumerate(images):
        check_picture("The input picture" if len(images) == 1 else f"Input picture {i + 1}", image, limits)
    strength = _float("Denoising strength", request.denoising_strength)
    if not 0.0 <= strength <= 1.0:
        raise RequestError(f"Denoising strength must be between 0 and 1, but is {request.denoising_strength}.")
    out = {"init_images": images, "denoising_strength": strength,
           "resize_mode": _choice("Resize mode", request.resize_mode, RESIZE_MODES)}
    if request.mode == "inpaint":
        out.update(_validate_inpaint(request, images[0], limits))
        if request.soft_inpainting is not None:
            try:
                out["soft_inpainting"] = validate_soft(request.soft_inpainting)
            except ValueError as exc:
                raise RequestError(str(exc)) from None
    elif request.soft_inpainting is not None:
        raise RequestError("Soft inpainting needs a mask: use Inpaint (or send a mask), or turn soft inpainting off.")
    return out


def _validate_inpaint(request: GenerationRequest, image: Image.Image, limits: Limits) -> dict[str, Any]:
    blur = _int("Mask blur", request.mask_blur)
    if not 0 <= blur <= 64:
        raise RequestError(f"Mask blur must be between 0 and 64 pixels, but is {blur}.")
    padding = _int("Only masked padding", request.inpaint_full_res_padding)
    if not 0 <= padding <= limits.max_input_side:
        raise RequestError(f"Only masked padding must be between 0 and {limits.max_input_side} pixels, "
                           f"but is {padding}.")
    sides = tuple(request.outpaint or (0, 0, 0, 0))
    if len(sides) != 4:
        raise RequestError("Outpaint takes four numbers of pixels: left, right, up, down.")
    outpaint = tuple(_int(f"Outpaint {side}", v) for side, v in zip(("left", "right", "up", "down"), sides))
    if any(not 0 <= v <= limits.max_size for v in outpaint):
        raise RequestError(f"Outpaint extends each side by 0 to {limits.max_size} pixels, but got {outpaint}.")
    if request.outpaint_fill not in OUTPAINT_FILLS:
        raise RequestError(f"Outpaint fill must be one of {', '.join(OUTPAINT_FILLS)}, "
                           f"but is {request.outpaint_fill!r}.")
    invert = bool(request.inpainting_mask_invert)
    if request.mask is None and not any(outpaint):
        raise RequestError("Inpaint needs a mask: paint over the part of the picture to redo, or upload a mask.")
    if request.mask is not None:
        check_picture("The mask", request.mask, limits)
        low, high = as_mask(request.mask).getextrema()
        if not any(outpaint) and invert and low == 255:
            raise RequestError("Nothing to inpaint: the mask covers the whole picture, and 'Inpaint not masked' "
                               "repaints only what is not masked.")
        if not any(outpaint) and not invert and high == 0:
            raise RequestError("Nothing to inpaint: the mask is empty. Paint over the part of the picture to redo.")
    if any(outpaint) and not request.inpaint_full_res:
        width = -(-(image.width + outpaint[0] + outpaint[1]) // 8) * 8
        height = -(-(image.height + outpaint[2] + outpaint[3]) // 8) * 8
        if max(width, height) > limits.max_size:
            raise RequestError(f"The outpainted picture would be {width}x{height} pixels, over the limit of "
                               f"{limits.max_size}. Extend it less, or choose Inpaint area: Only masked.")
    return {"mask_blur": blur, "inpaint_full_res_padding": padding, "outpaint": outpaint,
            "inpainting_fill": _choice("Masked content", request.inpainting_fill, MASKED_CONTENT),
            "inpaint_full_res": bool(request.inpaint_full_res), "inpainting_mask_invert": invert}
