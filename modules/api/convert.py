"""A1111 API payloads <-> the core's GenerationRequest/GenerationResult: every conversion of an A1111 (or
sd-webui-controlnet) field lives here, so the routes only route."""

from __future__ import annotations

import json
import re
import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from modules.api import a1111_options
from modules.api.images import decode_image, encode_image
from modules.api.regions_convert import region_fields
from modules.api.schemas import GenerationPayload, Img2ImgPayload
from modules.core import additional_modules
from modules.core.infotext import parse_infotext
from modules.core.detailer import SCRIPT_NAME as DETAILER_SCRIPT
from modules.core.detailer import from_script_args as detailer_from_args
from modules.core.soft_inpainting import SCRIPT_NAME as SOFT_SCRIPT
from modules.core.soft_inpainting import from_script_args as soft_from_args
from modules.core.request_infotext import request_fields_from_infotext
from modules.core.requests import VAE_AUTOMATIC, VAE_NONE, ControlUnit, GenerationRequest, Limits, RequestError
from modules.core.validation import NO_REFINER

if TYPE_CHECKING:
    from modules.engine.models.manager import ModelManager
    from modules.engine.samplers import SamplerRegistry
    from modules.service.services import Services

TITLE_HASH = re.compile(r"\s*\[[0-9a-fA-F]{8,64}\]$")
DEFAULT_SAMPLER = "Euler"  # A1111's API default (sampler_index = "Euler")
SAME = ("", "use same sampler", "use same scheduler", "use same checkpoint", "none")


LEGACY_RESIZE = {"scale to fit (inner fit)": 1, "envelope (outer fit)": 2, "inner fit": 1, "outer fit": 2,
                 "resize": 0, "just resize": 0}
UNIT_FIELDS = {"enabled", "image", "input_image", "mask", "module", "model", "weight", "guidance_start",
               "guidance_end", "guidance", "control_mode", "resize_mode", "pixel_perfect", "processor_res",
               "threshold_a", "threshold_b", "guessmode", "lowvram", "low_vram", "is_ui", "input_mode",
               "batch_images", "output_dir", "loopback", "save_detected_map", "hr_option", "effective_region_mask"}


VAE_ALIASES = {"automatic": VAE_AUTOMATIC, "none": VAE_NONE, "": VAE_AUTOMATIC}


# ---------------------------------------------------------------------------------------------- requests
def find_checkpoint(models: ModelManager, query: str) -> Any:
    """A checkpoint by A1111 title, name or hash; a title whose hash is not computed yet still matches."""
    info = models.checkpoints.find(query) or models.checkpoints.find(TITLE_HASH.sub("", query))
    if info is None or not info.usable:
        names = ", ".join(i.title for i in models.checkpoints.usable()) or "none"
        raise LookupError(f"Checkpoint {query!r} not found. Available: {names}.")
    return info


def check_vae(models: ModelManager, name: str) -> str:
    canonical = VAE_ALIASES.get(name.strip().casefold())
    if canonical is not None:
        return canonical
    return models.find_vae(name).name  # raises ModelNotFound (a LookupError) listing the VAEs


def check_modules(models: ModelManager, entries: Any) -> list[str]:
    """Forge's forge_additional_modules: a list of files that exist in models/text_encoder or models/VAE (Forge's
    clients send the full paths its option stores; they are matched by file name). The list as given."""
    try:
        names = additional_modules.check(entries)
    except additional_modules.ModulesError as exc:
        raise RequestError(str(exc)) from None
    for name in names:
        models.find_module(name)  # raises ModelNotFound (a LookupError) listing the files there are
    return list(names)


def pick_sampler(samplers: SamplerRegistry, name: str, scheduler: str | None, warnings: list[str]) -> tuple[str, str]:
    """(sampler, schedule type) as A1111 picks them: a legacy suffix ("DPM++ 2M Karras") wins; an unknown or
    unsupported scheduler falls back to Automatic (with a warning) instead of failing the request."""
    try:
        spec, schedule = samplers.resolve_with_schedule(name, None)
    except ValueError as exc:
        raise RequestError(str(exc)) from None
    if schedule == "Automatic" and scheduler:
        try:
            _, schedule = samplers.resolve_with_schedule(spec.name, scheduler)
        except ValueError:
            warnings.append(f"Unknown scheduler {scheduler!r}; using Automatic.")
            schedule = "Automatic"
    if schedule not in spec.schedule_types:
        warnings.append(f"Sampler {spec.name} has no {schedule} schedule; using Automatic.")
        schedule = "Automatic"
    return spec.name, schedule


def _unsupported_warnings(payload: GenerationPayload) -> list[str]:
    notes = []
    if payload.tiling:
        notes.append("tiling is not supported; ignored.")
    if payload.styles:
        notes.append("styles are not supported yet; ignored.")
    # A1111's per-request sampler parameters (its options s_churn...): diffusers' samplers here take none of them.
    defaults = {"s_churn": 0.0, "s_tmin": 0.0, "s_noise": 1.0, "s_min_uncond": 0.0}
    for name, default in defaults.items():
        value = getattr(payload, name)
        if value is not None and str(value).strip() not in ("", str(default), str(int(default))):
            notes.append(f"{name} is not supported by this server's samplers; ignored.")
    if payload.s_tmax not in (None, 0, 0.0, "inf", float("inf")):
        notes.append("s_tmax is not supported by this server's samplers; ignored.")
    return notes


def _eta_fields(payload: GenerationPayload, sampler: str, warnings: list[str]) -> dict[str, Any]:
    """A payload's `eta` (A1111: the sampler's eta for this job). diffusers' DDIM takes one; its ancestral
    samplers always use 1, so another value for them is said, not silently dropped."""
    if payload.eta is None:
        return {}
    try:
        eta = float(payload.eta)
    except (TypeError, ValueError, OverflowError):
        raise RequestError(f"eta must be a number, but is {repr(payload.eta)[:60]}.") from None
    if sampler == "DDIM":
        return {"eta_ddim": eta}
    if eta != 1.0:
        warnings.append(f"eta {eta:g} is not supported with {sampler} (only DDIM takes an eta here); ignored.")
    return {}


def _face_fields(payload: GenerationPayload, services: Services, user_options: dict[str, Any],
                 overrides: dict[str, Any]) -> dict[str, Any]:
    """restore_faces, and the restorer and CodeFormer weight it uses: the payload's override_settings, else the
    caller's options, else the server's settings (A1111's face_restoration_model, code_former_weight). A
    restore_faces of null follows the caller's `face_restoration` option, as A1111 1.7+ does."""
    def option(key: str, default: Any) -> Any:
        if key in overrides:
            return overrides[key]
        if key in user_options:
            return user_options[key]
        value = services.ui_settings.get(key)
        return default if value is None else value

    wanted = payload.restore_faces
    if wanted is None:
        wanted = option("face_restoration", False)
    if isinstance(wanted, str) and wanted.strip().casefold() in ("true", "false", "1", "0", ""):
        wanted = wanted.strip().casefold() in ("true", "1")
    if not isinstance(wanted, (bool, int)):
        raise RequestError(f"restore_faces must be true or false, but is {repr(wanted)[:60]}.")
    restorer = option("face_restoration_model", "CodeFormer")
    # All three even when off: a picture's `infotext` (below) may turn restoration on with its own restorer.
    return {"restore_faces": bool(wanted), "face_restorer": "None" if restorer is None else str(restorer),
            "codeformer_weight": option("code_former_weight", 0.5)}


def _infotext_fields(payload: GenerationPayload) -> dict[str, Any]:
    """A1111's `infotext` field: values parsed from it fill what the payload left at its defaults."""
    if not payload.infotext:
        return {}
    parsed = parse_infotext(payload.infotext)
    values = request_fields_from_infotext(parsed.prompt, parsed.negative_prompt, parsed.params)
    # The checkpoint and VAE stay the caller's choice: the picture's may not be on this server. ADetailer and soft
    # inpainting come only through their alwayson_scripts, as in A1111 (the infotext never overrides those).
    return {k: v for k, v in values.items()
            if k not in ("checkpoint", "checkpoint_hash", "vae", "detailer", "soft_inpainting")}


def payload_to_request(payload: GenerationPayload, services: Services, user_options: dict[str, Any]
                       ) -> tuple[GenerationRequest, list[str]]:
    """A GenerationRequest for an A1111 txt2img payload (or the txt2img part of an img2img one), plus warnings
    about what was ignored."""
    warnings = _unsupported_warnings(payload)
    overrides = payload.override_settings or {}
    sampler, schedule = pick_sampler(services.samplers, payload.sampler_name or payload.sampler_index
                                     or DEFAULT_SAMPLER, payload.scheduler, warnings)
    checkpoint_query = overrides.get("sd_model_checkpoint") or user_options.get("sd_model_checkpoint")
    checkpoint = find_checkpoint(services.models, str(checkpoint_query)).name if checkpoint_query else None
    vae = check_vae(services.models, str(overrides.get("sd_vae") or user_options.get("sd_vae") or VAE_AUTOMATIC))
    clip_skip = overrides.get("CLIP_stop_at_last_layers", user_options.get("CLIP_stop_at_last_layers", 1))
    modules = check_modules(services.models, overrides["forge_additional_modules"]
                            if "forge_additional_modules" in overrides
                            else user_options.get("forge_additional_modules", []))
    fields: dict[str, Any] = dict(
        prompt=payload.prompt, negative_prompt=payload.negative_prompt, checkpoint=checkpoint, vae=vae,
        additional_modules=tuple(modules),
        sampler=sampler, schedule_type=schedule, steps=payload.steps, cfg_scale=payload.cfg_scale,
        distilled_cfg_scale=payload.distilled_cfg_scale,  # Forge's field: validated (a number) with the request
        width=payload.width, height=payload.height, seed=payload.seed, subseed=payload.subseed,
        subseed_strength=payload.subseed_strength, batch_count=payload.n_iter, batch_size=payload.batch_size,
        clip_skip=clip_skip, deepcache_interval=payload.deepcache_interval, step_cache=payload.step_cache or "",
        # Extensions find their own values under their name (alwayson_scripts pass-through); ControlNet's
        # units are ours, on the request itself.
        extra={str(name).lower(): value for name, value in (payload.alwayson_scripts or {}).items()
               if str(name).lower() != "controlnet"},
        control_units=units_from_scripts(payload.alwayson_scripts, warnings, services.processor.limits,
                                         picture_only=_takes_control_picture(services, checkpoint)),
    )
    fields.update(_detailer(fields["extra"]))
    fields.update(a1111_options.request_fields(user_options, overrides,
                                               lambda key: a1111_options.in_force(services, key), warnings))
    # sd-webui-controlnet's "Do not append detectmap to output", the user's option or this job's override (a
    # bool: request_fields refused any other type above).
    if overrides.get("control_net_no_detectmap", user_options.get("control_net_no_detectmap")) is True:
        fields["control_units"] = tuple(replace(u, save_detected_map=False) for u in fields["control_units"])
    fields.update(_eta_fields(payload, sampler, warnings))
    fields.update(_face_fields(payload, services, user_options, overrides))
    if payload.script_name:  # an extension's script, by name or title; its values come in alwayson_scripts
        fields["extra"]["script"] = payload.script_name
        if payload.script_args:
            _script_values(fields["extra"], payload.script_name, payload.script_args, services, warnings)
    fields.update(hires_fields(payload, services, warnings))
    fields.update(refiner_fields(payload, services))
    fields.update(region_fields(payload, fields, services.processor.limits))
    defaults = type(payload)()
    for name, value in _infotext_fields(payload).items():
        source = {"batch_count": "n_iter", "schedule_type": "scheduler", "sampler": "sampler_name"}.get(name, name)
        option = a1111_options.OPTION_OF_FIELD.get(name)
        if option is not None:  # A1111 pastes these as override_settings; the payload's own overrides win
            if option not in overrides:
                fields[name] = value
        elif name in fields and getattr(payload, source, None) == getattr(defaults, source, None):
            fields[name] = value
    return GenerationRequest(**fields), warnings


def _script_values(extra: dict[str, Any], name: str, args: list[Any], services: Services,
                   warnings: list[str]) -> None:
    """A1111's positional `script_args` as the script's values by name (the names its extension declared);
    values sent by name in alwayson_scripts win. An unknown script is refused later, naming those available."""
    script = services.extensions.script_named(name)
    if script is None:
        return
    if not script.args:
        warnings.append(f"script_args were ignored: the script {script.title!r} takes its values by name in "
                        f"alwayson_scripts[{script.name!r}].")
        return
    if len(args) > len(script.args):
        warnings.append(f"script_args has {len(args)} values; the script {script.title!r} takes "
                        f"{len(script.args)} ({', '.join(script.args)}): the rest were ignored.")
    named = {key: value for key, value in zip(script.args, args) if not key.startswith("_")}
    sent = extra.get(script.name)
    if isinstance(sent, dict) and set(sent) == {"args"} and isinstance(sent["args"], dict):
        sent = sent["args"]
    extra[script.name] = {**named, **(sent if isinstance(sent, dict) else {})}


def _img2img_warnings(payload: Img2ImgPayload) -> list[str]:
    notes = []
    if payload.image_cfg_scale not in (None, 0, 1.5):
        notes.append("image_cfg_scale is for instruct-pix2pix models, which are not supported; ignored.")
    if payload.latent_mask is not None:
        notes.append("latent_mask is not supported; the mask is used.")
    if payload.initial_noise_multiplier not in (None, 1, 1.0):
        notes.append("initial_noise_multiplier is not supported; ignored.")
    if payload.mask_blur is None and payload.mask_blur_x != payload.mask_blur_y:
        notes.append(f"Separate x and y mask blur is not supported; both use {payload.mask_blur_x}.")
    return notes


def img2img_payload_to_request(payload: Img2ImgPayload, services: Services, user_options: dict[str, Any]
                               ) -> tuple[GenerationRequest, list[str]]:
    """A GenerationRequest for an A1111 img2img payload: inpaint when it has a mask, img2img otherwise."""
    request, warnings = payload_to_request(payload, services, user_options)
    warnings += _img2img_warnings(payload)
    if not payload.init_images:
        raise RequestError("init_images is empty: send the picture to start from, as base64.")
    limits = services.processor.limits
    count = len(payload.init_images) + bool(payload.mask) + sum(u.image is not None for u in request.control_units)
    if count > limits.max_input_images:  # before decoding any: a body of tiny pictures could hold thousands
        raise RequestError(f"The request has {count} pictures (init_images, mask and ControlNet images); at most "
                           f"{limits.max_input_images} are allowed in one request. Send fewer.")
    # Opened, not decoded: `validate` checks the pixels of all the pictures together before decoding them.
    images = tuple(decode_image(data, f"init_images[{i}]", limits, load=False)
                   for i, data in enumerate(payload.init_images))
    mask = decode_image(payload.mask, "The mask", limits, load=False) if payload.mask else None
    resize_mode = payload.resize_mode
    if resize_mode == 3:  # A1111's "Just resize (latent upscale)"
        warnings.append("Resize mode 3 (latent upscale) is not supported; using 0 (Just resize).")
        resize_mode = 0
    request = replace(
        request, mode="inpaint" if mask is not None else "img2img", init_images=images, mask=mask,
        denoising_strength=payload.denoising_strength, resize_mode=resize_mode,
        mask_blur=payload.mask_blur if payload.mask_blur is not None else payload.mask_blur_x,
        inpainting_fill=payload.inpainting_fill, inpaint_full_res=bool(payload.inpaint_full_res),
        inpaint_full_res_padding=payload.inpaint_full_res_padding,
        inpainting_mask_invert=bool(payload.inpainting_mask_invert),
        **_soft_inpainting(request.extra, mask is not None, warnings))
    if _detailer_skips_img2img(payload.alwayson_scripts):  # ADetailer's "Skip img2img": only the redraw acts
        request = replace(request, denoising_strength=0.0)
    return request, warnings


def _detailer(extra: dict[str, Any]) -> dict[str, Any]:
    """ADetailer's `alwayson_scripts.ADetailer.args` as the request's own units (taken out of `extra`)."""
    if DETAILER_SCRIPT not in extra:
        return {}
    try:
        units, _ = detailer_from_args(extra[DETAILER_SCRIPT])
    except ValueError as exc:
        raise RequestError(str(exc)) from None
    return {"extra": {k: v for k, v in extra.items() if k != DETAILER_SCRIPT}, "detailer": units}


def _detailer_skips_img2img(scripts: dict[str, Any] | None) -> bool:
    value = {str(k).lower(): v for k, v in (scripts or {}).items()}.get(DETAILER_SCRIPT)
    if value is None:
        return False
    units, skip = detailer_from_args(value)  # already accepted by _detailer
    return skip and bool(units)


def _soft_inpainting(extra: dict[str, Any], has_mask: bool, warnings: list[str]) -> dict[str, Any]:
    """A1111's `alwayson_scripts["soft inpainting"].args` as the request's own field (taken out of `extra`)."""
    if SOFT_SCRIPT not in extra:
        return {}
    rest = {k: v for k, v in extra.items() if k != SOFT_SCRIPT}
    try:
        settings = soft_from_args(extra[SOFT_SCRIPT])
    except ValueError as exc:
        raise RequestError(str(exc)) from None
    if settings is not None and not has_mask:  # as in A1111, where the script acts only on inpainting
        warnings.append("Soft inpainting was asked for without a mask: it acts only when inpainting.")
        settings = None
    return {"extra": rest, "soft_inpainting": settings}


# ---------------------------------------------------------------------------------------------- results
def result_info(result: Any, payload: GenerationPayload, warnings: list[str], model: Any) -> dict[str, Any]:
    """A1111's `info` (Processed.js()): what clients read to show or reuse the seeds."""
    request = result.request
    seeds = result.seeds or [request.seed]
    subseeds = result.subseeds or [request.subseed]
    count = max(1, len(result.images))
    prompts, negatives = [request.prompt] * count, [request.negative_prompt] * count
    parsed = [parse_infotext(text) for text in result.infotexts]
    if parsed and any(name in parsed[0].params for name in ("Template", "Negative Template")):
        # Wildcards: each picture drew its own prompt; the job's request holds the template.
        prompts, negatives = [p.prompt for p in parsed], [p.negative_prompt for p in parsed]
    return {
        "prompt": prompts[0],
        "all_prompts": prompts,
        "negative_prompt": negatives[0],
        "all_negative_prompts": negatives,
        "seed": seeds[0],
        "all_seeds": seeds,
        "subseed": subseeds[0],
        "all_subseeds": subseeds,
        "subseed_strength": request.subseed_strength,
        "width": request.width,
        "height": request.height,
        "sampler_name": request.sampler,
        "scheduler": request.schedule_type,
        "cfg_scale": request.cfg_scale,
        "distilled_cfg_scale": request.distilled_cfg_scale,
        "steps": request.steps,
        "batch_size": request.batch_size,
        "restore_faces": request.restore_faces,
        "face_restoration_model": request.face_restorer if request.restore_faces else None,
        "sd_model_name": model.model_name if model else None,
        "sd_model_hash": model.short_hash if model else None,
        "sd_vae_name": None if request.vae in (VAE_AUTOMATIC, VAE_NONE) else request.vae,
        "sd_vae_hash": None,
        "seed_resize_from_w": -1,
        "seed_resize_from_h": -1,
        "denoising_strength": None if request.mode == "txt2img" and not request.enable_hr else request.denoising_strength,
        "extra_generation_params": {},
        "index_of_first_image": 0,
        "infotexts": list(result.infotexts),
        "styles": [],
        "job_timestamp": time.strftime("%Y%m%d%H%M%S"),
        "clip_skip": request.clip_skip,
        "is_using_inpainting_conditioning": bool(model is not None and model.inpainting),
        "version": "sdwebui",
        "interrupted": bool(result.interrupted),
        "warnings": warnings + list(result.warnings),
    }


def image_response(result: Any, payload: GenerationPayload, warnings: list[str], model: Any) -> dict[str, Any]:
    images = None
    if payload.send_images:
        images = [encode_image(image, info) for image, info in zip(result.images, result.infotexts)]
        # sd-webui-controlnet's maps follow the pictures; `infotexts` in `info` covers the pictures only, as
        # there (a client pairs images[i] with infotexts[i] for i < len(infotexts)).
        images += [encode_image(m.image) for m in result.detected_maps]
    parameters = payload.model_dump()
    if isinstance(payload, Img2ImgPayload) and not payload.include_init_images:
        parameters.update(init_images=None, mask=None)  # A1111 does not echo the pictures back unless asked
    return {"images": images, "parameters": parameters,
            "info": json.dumps(result_info(result, payload, warnings, model), ensure_ascii=False)}


def pnginfo_parameters(text: str) -> dict[str, Any]:
    parsed = parse_infotext(text)
    return {"Prompt": parsed.prompt, "Negative prompt": parsed.negative_prompt, **parsed.params}


# ---------------------------------------------------------------------------------------------- hires fix
def _same(value: Any) -> str:
    text = "" if value is None else str(value).strip()
    return "" if text.casefold() in SAME else text


def hires_fields(payload: Any, services: Services, warnings: list[str]) -> dict[str, Any]:
    """The request's hires fields from an A1111 txt2img payload (nothing when enable_hr is off)."""
    if not getattr(payload, "enable_hr", False):
        return {}
    if payload.firstphase_width or payload.firstphase_height:
        warnings.append("firstphase_width/height (the pre-1.0 hires fix) are ignored: width and height are the "
                        "first pass's size, hr_scale or hr_resize_x/y the final one.")
    upscaler = _same(payload.hr_upscaler) or "Latent"
    if str(payload.hr_upscaler).strip().casefold() == "none":
        upscaler = "None"
    fields: dict[str, Any] = dict(
        enable_hr=True, hr_scale=2.0 if payload.hr_scale is None else payload.hr_scale, hr_upscaler=upscaler,
        hr_second_pass_steps=payload.hr_second_pass_steps or 0, hr_resize_x=payload.hr_resize_x or 0,
        hr_resize_y=payload.hr_resize_y or 0, hr_prompt=payload.hr_prompt or "",
        hr_negative_prompt=payload.hr_negative_prompt or "", hr_cfg=payload.hr_cfg,
        hr_checkpoint=_same(payload.hr_checkpoint_name), hr_schedule_type=_same(payload.hr_scheduler))
    if payload.denoising_strength is not None:
        fields["denoising_strength"] = payload.denoising_strength
    sampler = _same(payload.hr_sampler_name)
    if sampler:
        fields["hr_sampler"] = sampler
    if fields["hr_checkpoint"]:
        fields["hr_checkpoint"] = find_checkpoint(services.models, fields["hr_checkpoint"]).name
    return fields


# ---------------------------------------------------------------------------------------------- refiner
def refiner_fields(payload: Any, services: Services) -> dict[str, Any]:
    """A1111 1.6's refiner: a checkpoint by title, name or infotext form (null, "" or "None": no refiner), and
    the fraction of the steps where it takes over (`validate` checks it; A1111's UI default when left out)."""
    name = "" if payload.refiner_checkpoint is None else str(payload.refiner_checkpoint).strip()
    if name.casefold() in NO_REFINER:
        return {}
    try:
        fields: dict[str, Any] = {"refiner_checkpoint": find_checkpoint(services.models, name).name}
    except LookupError as exc:
        raise LookupError(f"Refiner: {exc.args[0]}") from None
    if payload.refiner_switch_at is not None:
        fields["refiner_switch_at"] = payload.refiner_switch_at
    return fields


# ---------------------------------------------------------------------------------------------- ControlNet units
# sd-webui-controlnet's field names; older clients use `input_image`, `guessmode` and the legacy resize names.
def _image_of(value: Any, what: str = "The image", limits: Limits = Limits()) -> Any:
    """A unit's picture: base64 (bare or data: URI), or {"image": ..., "mask": ...} as the extension's UI sends.
    Opened, not decoded: `validate` checks the pixels of all the request's pictures before decoding them."""
    if isinstance(value, dict):
        value = value.get("image")
    if value is None or value == "":
        return None
    return decode_image(value, what, limits, load=False)


def _resize_mode(value: Any) -> Any:
    if isinstance(value, str) and value.strip().casefold() in LEGACY_RESIZE:
        return LEGACY_RESIZE[value.strip().casefold()]
    return value


def unit_from_arg(arg: dict[str, Any], index: int, warnings: list[str], limits: Limits = Limits()) -> ControlUnit:
    unknown = sorted(set(arg) - UNIT_FIELDS)
    if unknown:
        warnings.append(f"ControlNet unit {index}: ignored unknown field(s) {', '.join(unknown)}.")
    control_mode = arg.get("control_mode")
    if control_mode is None:  # the old guess mode is "ControlNet is more important"
        control_mode = 2 if arg.get("guessmode") else 0
    image = _image_of(arg.get("image") or arg.get("input_image"), f"ControlNet unit {index}'s image", limits)
    threshold = {k: (None if arg.get(k) in (None, -1) else arg[k]) for k in ("threshold_a", "threshold_b")}
    return ControlUnit(
        enabled=bool(arg.get("enabled", True)), image=image, module=str(arg.get("module") or "none"),
        model=str(arg.get("model") or "").strip() if str(arg.get("model") or "").strip() != "None" else "",
        weight=arg.get("weight", 1.0), guidance_start=arg.get("guidance_start", 0.0),
        guidance_end=arg.get("guidance_end", arg.get("guidance", 1.0)), control_mode=control_mode,
        resize_mode=_resize_mode(arg.get("resize_mode", 1)), pixel_perfect=bool(arg.get("pixel_perfect", False)),
        processor_res=512 if arg.get("processor_res") in (None, -1) else arg["processor_res"],
        hr_option=arg.get("hr_option", 0), save_detected_map=_flag(arg.get("save_detected_map"), True,
                                                                    f"ControlNet unit {index}'s save_detected_map"),
        **threshold)


def _flag(value: Any, default: bool, what: str) -> bool:
    """A JSON boolean as clients send it: true/false, 0/1 or their strings; null means the default."""
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    text = str(value).strip().casefold()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off", ""):
        return False
    raise RequestError(f"{what} must be true or false, not {value!r}.")


def _takes_control_picture(services: Services, checkpoint: str | None) -> bool:
    """Whether the job's checkpoint takes a unit's picture with no ControlNet model (Flux.1 Canny/Depth)."""
    from modules.engine import flow_control  # torch-free callers of this module do not pay for it

    try:
        family = services.models.resolve(checkpoint).family
    except LookupError:
        return False  # an unknown checkpoint is refused later, with its own message
    return flow_control.takes_control_picture(family)


def units_from_scripts(alwayson_scripts: dict[str, Any] | None, warnings: list[str], limits: Limits = Limits(),
                       picture_only: bool = False) -> tuple[ControlUnit, ...]:
    scripts = {str(k).lower(): v for k, v in (alwayson_scripts or {}).items()}
    block = scripts.get("controlnet")
    if block is None:
        return ()
    args = block.get("args", []) if isinstance(block, dict) else block
    if not isinstance(args, list):
        raise RequestError("alwayson_scripts.controlnet.args must be a list of units.")
    pictures = sum(1 for arg in args if isinstance(arg, dict) and (arg.get("image") or arg.get("input_image")))
    if pictures > limits.max_input_images:  # before decoding any
        raise RequestError(f"alwayson_scripts.controlnet.args has {pictures} pictures; at most "
                           f"{limits.max_input_images} are allowed in one request. Send fewer units with pictures.")
    units = []
    for index, arg in enumerate(args):
        if not isinstance(arg, dict):
            raise RequestError(f"ControlNet unit {index + 1} must be an object with the extension's field names.")
        unit = unit_from_arg(arg, index + 1, warnings, limits)
        if unit.enabled and unit.model:
            units.append(unit)
        elif unit.enabled and picture_only:  # a Flux Canny/Depth checkpoint: the unit brings its control picture
            units.append(replace(unit, model="None"))
        elif unit.enabled and unit.module not in ("", "none"):
            warnings.append(f"ControlNet unit {index + 1} has a preprocessor but no model; it was skipped.")
    return tuple(units)
