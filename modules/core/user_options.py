"""The per-user A1111 settings that change the picture, by the GenerationRequest field each one sets.

A user sets them through /sdapi/v1/options (stored per user in UserSettingsStore under A1111's names); the API and
the UI both read them from there when they build a request, so the user's choice acts on all their jobs, as
A1111's settings do, and never on another user's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# A1111 option name -> GenerationRequest field (the checkpoint, VAE and clip skip have their own paths).
REQUEST_FIELDS = {"eta_noise_seed_delta": "eta_noise_seed_delta", "eta_ddim": "eta_ddim",
                  "img2img_color_correction": "color_correction", "img2img_fix_steps": "img2img_fix_steps",
                  "inpainting_mask_weight": "inpainting_mask_weight",
                  "sdxl_refiner_high_aesthetic_score": "aesthetic_score",
                  "sdxl_refiner_low_aesthetic_score": "negative_aesthetic_score",
                  "sd_vae_decode_method": "vae_decode_method"}


def request_fields(user_values: Mapping[str, Any]) -> dict[str, Any]:
    """The request fields a user's stored options set."""
    return {field: user_values[key] for key, field in REQUEST_FIELDS.items() if key in user_values}
