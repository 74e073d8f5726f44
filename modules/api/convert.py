"""A1111 API payloads <-> the core's GenerationRequest/GenerationResult, and images <-> base64."""

from __future__ import annotations

import base64
import binascii
import io
import json
import re
import time
from dataclasses import replace
from typing import Any

from PIL import Image, UnidentifiedImageError

from modules.api.schemas import GenerationPayload, Img2ImgPayload
from modules.core.infotext import parse_infotext, pnginfo_for
from modules.core.requests import (
    VAE_AUTOMATIC,
    VAE_NONE,
    GenerationRequest,
    RequestError,
    request_fields_from_infotext,
)

TITLE_HASH = re.compile(r"\s*\[[0-9a-fA-F]{8,64}\]$")
DEFAULT_SAMPLER = "Euler"  # A1111's API default (sampler_index = "Euler")
VAE_ALIASES = {"automatic": VAE_AUTOMATIC, "none": VAE_NONE, "": VAE_AUTOMATIC}


# ---------------------------------------------------------------------------------------------- images
def encode_image(image: Image.Image, infotext: str | None = None) -> str:
    """Bare base64 PNG (no data: prefix), carrying the infotext as A1111's `parameters` chunk."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", pnginfo=pnginfo_for(infotext) if infotext else None)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def decode_image(data: str) -> Image.Image:
    """A base64 picture, bare or as a data: URI; the format is told by the content, not the prefix."""
    text = (data or "").strip()
    if text.startswith("data:"):
        text = text.partition(",")[2]
    if not text:
        raise RequestError("No image was sent: pass it as base64 (bare or as a data: URI).")
    try:
        raw = base64.b64decode(text + "=" * (-len(text) % 4), validate=False)
    except (binascii.Error, ValueError):
        raise RequestError("The image is not valid base64.") from None
    try:
        image = Image.open(io.BytesIO(raw))
        image.load()
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError, SyntaxError) as exc:
        raise RequestError(f"The image could not be read as a picture: {exc}") from None
    return image


# ---------------------------------------------------------------------------------------------- requests
def find_checkpoint(models: Any, query: str) -> Any:
    """A checkpoint by A1111 title, name or hash; a title whose hash is not computed yet still matches."""
    info = models.checkpoints.find(query) or models.checkpoints.find(TITLE_HASH.sub("", query))
    if info is None or not info.usable:
        names = ", ".join(i.title for i in models.checkpoints.usable()) or "none"
        raise LookupError(f"Checkpoint {query!r} not found. Available: {names}.")
    return info


def check_vae(models: Any, name: str) -> str:
    canonical = VAE_ALIASES.get(name.strip().casefold())
    if canonical is not None:
        return canonical
    return models.find_vae(name).name  # raises ModelNotFound (a LookupError) listing the VAEs


def pick_sampler(samplers: Any, name: str, scheduler: str | None, warnings: list[str]) -> tuple[str, str]:
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
    if payload.restore_faces:
        notes.append("restore_faces is not supported; ignored.")
    if payload.tiling:
        notes.append("tiling is not supported; ignored.")
    if payload.styles:
        notes.append("styles are not supported yet; ignored.")
    return notes


def _infotext_fields(payload: GenerationPayload) -> dict[str, Any]:
    """A1111's `infotext` field: values parsed from it fill what the payload left at its defaults."""
    if not payload.infotext:
        return {}
    parsed = parse_infotext(payload.infotext)
    values = request_fields_from_infotext(parsed.prompt, parsed.negative_prompt, parsed.params)
    # The checkpoint and VAE stay the caller's choice: the picture's may not be on this server.
    return {k: v for k, v in values.items() if k not in ("checkpoint", "checkpoint_hash", "vae")}


def payload_to_request(payload: GenerationPayload, services: Any, user_options: dict[str, Any]
                       ) -> tuple[GenerationRequest, list[str]]:
    """A GenerationRequest for an A1111 txt2img payload (or the txt2img part of an img2img one), plus warnings
    about what was ignored."""
    from modules.api.controlnet_api import units_from_scripts  # it uses this module's image decoding

    warnings = _unsupported_warnings(payload)
    overrides = payload.override_settings or {}
    sampler, schedule = pick_sampler(services.samplers, payload.sampler_name or payload.sampler_index
                                     or DEFAULT_SAMPLER, payload.scheduler, warnings)
    checkpoint_query = overrides.get("sd_model_checkpoint") or user_options.get("sd_model_checkpoint")
    checkpoint = find_checkpoint(services.models, str(checkpoint_query)).name if checkpoint_query else None
    vae = check_vae(services.models, str(overrides.get("sd_vae") or user_options.get("sd_vae") or VAE_AUTOMATIC))
    clip_skip = overrides.get("CLIP_stop_at_last_layers", user_options.get("CLIP_stop_at_last_layers", 1))
    fields: dict[str, Any] = dict(
        prompt=payload.prompt, negative_prompt=payload.negative_prompt, checkpoint=checkpoint, vae=vae,
        sampler=sampler, schedule_type=schedule, steps=payload.steps, cfg_scale=payload.cfg_scale,
        width=payload.width, height=payload.height, seed=payload.seed, subseed=payload.subseed,
        subseed_strength=payload.subseed_strength, batch_count=payload.n_iter, batch_size=payload.batch_size,
        clip_skip=clip_skip,
        # Extensions find their own values under their name (alwayson_scripts pass-through); ControlNet's
        # units are ours, on the request itself.
        extra={str(name).lower(): value for name, value in (payload.alwayson_scripts or {}).items()
               if str(name).lower() != "controlnet"},
        control_units=units_from_scripts(payload.alwayson_scripts, warnings),
    )
    if payload.script_name:  # an extension's script, by name or title; its values come in alwayson_scripts
        fields["extra"]["script"] = payload.script_name
    from modules.api.extras_api import hires_fields  # it uses this module's helpers

    fields.update(hires_fields(payload, services, warnings))
    defaults = type(payload)()
    for name, value in _infotext_fields(payload).items():
        source = {"batch_count": "n_iter", "schedule_type": "scheduler", "sampler": "sampler_name"}.get(name, name)
        if name in fields and getattr(payload, source, None) == getattr(defaults, source, None):
            fields[name] = value
    return GenerationRequest(**fields), warnings


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


def img2img_payload_to_request(payload: Img2ImgPayload, services: Any, user_options: dict[str, Any]
                               ) -> tuple[GenerationRequest, list[str]]:
    """A GenerationRequest for an A1111 img2img payload: inpaint when it has a mask, img2img otherwise."""
    request, warnings = payload_to_request(payload, services, user_options)
    warnings += _img2img_warnings(payload)
    if not payload.init_images:
        raise RequestError("init_images is empty: send the picture to start from, as base64.")
    images = tuple(decode_image(data) for data in payload.init_images)
    mask = decode_image(payload.mask) if payload.mask else None
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
        inpainting_mask_invert=bool(payload.inpainting_mask_invert))
    return request, warnings


# ---------------------------------------------------------------------------------------------- results
def result_info(result: Any, payload: GenerationPayload, warnings: list[str], model: Any) -> dict[str, Any]:
    """A1111's `info` (Processed.js()): what clients read to show or reuse the seeds."""
    request = result.request
    seeds = result.seeds or [request.seed]
    subseeds = result.subseeds or [request.subseed]
    count = max(1, len(result.images))
    return {
        "prompt": request.prompt,
        "all_prompts": [request.prompt] * count,
        "negative_prompt": request.negative_prompt,
        "all_negative_prompts": [request.negative_prompt] * count,
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
        "steps": request.steps,
        "batch_size": request.batch_size,
        "restore_faces": False,
        "face_restoration_model": None,
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
    parameters = payload.model_dump()
    if isinstance(payload, Img2ImgPayload) and not payload.include_init_images:
        parameters.update(init_images=None, mask=None)  # A1111 does not echo the pictures back unless asked
    return {"images": images, "parameters": parameters,
            "info": json.dumps(result_info(result, payload, warnings, model), ensure_ascii=False)}


def pnginfo_parameters(text: str) -> dict[str, Any]:
    parsed = parse_infotext(text)
    return {"Prompt": parsed.prompt, "Negative prompt": parsed.negative_prompt, **parsed.params}
