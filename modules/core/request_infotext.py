"""An infotext (A1111's `parameters` text, parsed) -> the request fields it describes: what PNG Info, History and
the API's "send to" restore. Values that do not parse are left out, never guessed."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from modules.core import additional_modules
from modules.core.detailer import from_infotext as detailer_from_infotext
from modules.core import regions as regions_core
from modules.core.regions import RegionError
from modules.core.requests import GenerationRequest
from modules.core.soft_inpainting import from_infotext as soft_from_infotext

# Infotext keys (A1111's names) -> request fields, for PNG Info's "send to txt2img" and the API.
INFOTEXT_FIELDS = {
    "Steps": ("steps", int),
    "Sampler": ("sampler", str),
    "Schedule type": ("schedule_type", str),
    "CFG scale": ("cfg_scale", float),
    "Distilled CFG Scale": ("distilled_cfg_scale", float),  # Forge's name for Flux's distilled guidance
    "Seed": ("seed", int),
    "Variation seed": ("subseed", int),
    "Variation seed strength": ("subseed_strength", float),
    "Clip skip": ("clip_skip", int),
    "VAE": ("vae", str),
    "Denoising strength": ("denoising_strength", float),
    "Mask blur": ("mask_blur", int),
    "Masked area padding": ("inpaint_full_res_padding", int),
    "Hires upscale": ("hr_scale", float),
    "Hires upscaler": ("hr_upscaler", str),
    "Hires steps": ("hr_second_pass_steps", int),
    "Hires CFG Scale": ("hr_cfg", float),
    "Hires sampler": ("hr_sampler", str),
    "Hires schedule type": ("hr_schedule_type", str),
    "Hires prompt": ("hr_prompt", str),
    "Hires negative prompt": ("hr_negative_prompt", str),
    "Hires checkpoint": ("hr_checkpoint", str),
    "Face restoration": ("face_restorer", str),  # A1111 writes the restorer's name when restore_faces is on
    "Refiner": ("refiner_checkpoint", str),  # A1111 writes "name [short hash]"
    "Refiner switch at": ("refiner_switch_at", float),
    # A1111's settings written in the infotext (it pastes them back as override_settings)
    "ENSD": ("eta_noise_seed_delta", int),
    "Eta DDIM": ("eta_ddim", float),
    "Conditional mask weight": ("inpainting_mask_weight", float),
    "Decode method": ("vae_decode_method", str),
    "DeepCache interval": ("deepcache_interval", int),
    "Step cache": ("step_cache", str),
}


def request_fields_from_infotext(prompt: str, negative_prompt: str, params: dict[str, str]) -> dict[str, Any]:
    """The request fields an infotext describes; values that don't parse are left out, not guessed."""
    out: dict[str, Any] = {"prompt": prompt, "negative_prompt": negative_prompt}
    for key, (name, kind) in INFOTEXT_FIELDS.items():
        if key in params:
            try:
                out[name] = kind(float(params[key])) if kind is int else kind(params[key])
            except (ValueError, OverflowError):
                continue
    size = params.get("Size", "")
    if "x" in size:
        try:
            width, height = (int(v) for v in size.split("x", 1))
            out.update(width=width, height=height)
        except ValueError:
            pass
    if any(key.startswith("Hires ") for key in params):
        out["enable_hr"] = True
        resize = params.get("Hires resize", "")
        if "x" in resize:
            try:
                out["hr_resize_x"], out["hr_resize_y"] = (int(v) for v in resize.split("x", 1))
            except ValueError:
                pass
    if params.get("Face restoration"):
        out["restore_faces"] = True
    units = detailer_from_infotext(params)
    if units:
        out["detailer"] = units
    soft = soft_from_infotext(params)
    if soft is not None:  # inpaint's "Send to" restores it (PNG Info, History)
        out["soft_inpainting"] = soft
    if additional_modules.from_infotext(params):  # Forge's "Module 1: ae.safetensors"...
        out["additional_modules"] = additional_modules.from_infotext(params)
    if params.get(regions_core.INFOTEXT_KEY):
        try:
            out["regions"] = regions_core.from_infotext(params[regions_core.INFOTEXT_KEY])
        except RegionError:
            pass  # a damaged value is left out, like any value that does not parse
    if "Model" in params or "Model hash" in params:
        out["checkpoint"] = params.get("Model") or params.get("Model hash")
        out["checkpoint_hash"] = params.get("Model hash")
    return out


def request_field_names() -> list[str]:
    return [f.name for f in fields(GenerationRequest)]
