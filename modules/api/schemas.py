"""Pydantic models at the API's edge, with A1111's field names and defaults.

Tolerant as A1111 is: unknown fields are ignored, `null` means "the default", numbers may come as strings
and floats where ints are expected. Range checks are not repeated here: the core's `validate` does them
with messages that teach.
"""

from __future__ import annotations

import math
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator


def _lenient_int(value: Any) -> Any:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        try:
            value = float(text)
        except ValueError:
            raise ValueError(f"expected a whole number, got {text!r}") from None
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"expected a finite number, got {value}")
        return int(value)  # A1111 (pydantic 1) truncates 20.0 and 20.5 alike
    return value


def _lenient_float(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            raise ValueError(f"expected a number, got {value!r}") from None
    return value


Int = Annotated[int, BeforeValidator(_lenient_int)]
Float = Annotated[float, BeforeValidator(_lenient_float)]


class Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore")

    @model_validator(mode="before")
    @classmethod
    def _null_means_default(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if v is not None}
        return data


class GenerationPayload(Lenient):
    """The fields A1111's txt2img and img2img payloads share. Fields we don't implement are accepted and echoed."""

    prompt: str = ""
    negative_prompt: str = ""
    styles: Any = None
    seed: Int = -1
    subseed: Int = -1
    subseed_strength: Float = 0.0
    seed_resize_from_h: Any = -1
    seed_resize_from_w: Any = -1
    sampler_name: str | None = None
    scheduler: str | None = None
    batch_size: Int = 1
    n_iter: Int = 1
    steps: Int = 50
    cfg_scale: Float = 7.0
    distilled_cfg_scale: Any = None
    width: Int = 512
    height: Int = 512
    restore_faces: Any = None
    tiling: Any = None
    do_not_save_samples: bool = False
    do_not_save_grid: bool = False
    eta: Any = None
    s_min_uncond: Any = None
    s_churn: Any = None
    s_tmax: Any = None
    s_tmin: Any = None
    s_noise: Any = None
    override_settings: dict[str, Any] = Field(default_factory=dict)
    override_settings_restore_afterwards: bool = True
    refiner_checkpoint: Any = None
    refiner_switch_at: Any = None
    disable_extra_networks: bool = False
    comments: Any = None
    force_task_id: str | None = None
    sampler_index: str = "Euler"
    script_name: str | None = None
    script_args: list[Any] = Field(default_factory=list)
    send_images: bool = True
    save_images: bool = False
    alwayson_scripts: dict[str, Any] = Field(default_factory=dict)
    infotext: str | None = None


class Txt2ImgPayload(GenerationPayload):
    """A1111's StableDiffusionTxt2ImgProcessingAPI."""

    denoising_strength: Any = None
    enable_hr: bool = False
    firstphase_width: Any = 0
    firstphase_height: Any = 0
    hr_scale: Any = 2.0
    hr_upscaler: Any = None
    hr_second_pass_steps: Any = 0
    hr_resize_x: Any = 0
    hr_resize_y: Any = 0
    hr_checkpoint_name: Any = None
    hr_sampler_name: Any = None
    hr_scheduler: Any = None
    hr_prompt: Any = ""
    hr_negative_prompt: Any = ""
    hr_cfg: Any = None  # newer A1111/Forge: the second pass's CFG scale (absent = the first pass's)


class Img2ImgPayload(GenerationPayload):
    """A1111's StableDiffusionImg2ImgProcessingAPI, with its defaults (which differ from its UI's: the API
    inpaints "only masked" with no padding and fills the masked area unless told otherwise)."""

    init_images: list[str] = Field(default_factory=list)  # base64, bare or data: URIs
    resize_mode: Int = 0
    denoising_strength: Float = 0.75
    image_cfg_scale: Any = None
    mask: str | None = None  # base64; white = repaint (or, with transparency, opaque = repaint)
    mask_blur_x: Int = 4
    mask_blur_y: Int = 4
    mask_blur: Int | None = None  # sets both x and y, as in A1111
    mask_round: bool = True
    inpainting_fill: Int = 0
    inpaint_full_res: bool = True
    inpaint_full_res_padding: Int = 0
    inpainting_mask_invert: Int = 0
    initial_noise_multiplier: Any = None
    latent_mask: Any = None
    firstpass_image: Any = None
    include_init_images: bool = False


class ImageResponse(BaseModel):
    images: list[str] | None = None
    parameters: dict[str, Any]
    info: str


class PngInfoPayload(Lenient):
    image: str = ""


class PngInfoResponse(BaseModel):
    info: str
    items: dict[str, Any] = Field(default_factory=dict)
    parameters: dict[str, Any] = Field(default_factory=dict)


class ProgressState(BaseModel):
    skipped: bool = False
    interrupted: bool = False
    stopping_generation: bool = False
    job: str = ""
    job_count: int = 0
    job_timestamp: str = "0"
    job_no: int = 0
    sampling_step: int = 0
    sampling_steps: int = 0


class ProgressResponse(BaseModel):
    progress: float
    eta_relative: float
    state: ProgressState
    current_image: str | None = None
    textinfo: str | None = None
    # Ours, beyond A1111: where the caller's job stands in the queue (0 = running or none).
    queue_position: int = 0


class SdModel(BaseModel):
    title: str
    model_name: str
    hash: str | None = None
    sha256: str | None = None
    filename: str
    config: str | None = None


class SdVae(BaseModel):
    model_name: str
    filename: str


class Sampler(BaseModel):
    name: str
    aliases: list[str]
    options: dict[str, Any]


class Scheduler(BaseModel):
    name: str
    label: str
    aliases: list[str] | None = None
    default_rho: float = -1
    need_inner_model: bool = False


class JobSummary(BaseModel):
    id: str
    owner: str
    status: str
    progress: float
    position: int
    created: float
    started: float | None = None
    finished: float | None = None
    error: str | None = None
    images: list[str] | None = None
    info: str | None = None
