"""The request object that flows from a tab or an API route through the core to the saved image.

Everything that decides the picture is in here (checkpoint, VAE, sampler, seeds, sizes...), never in
global state, so two users' jobs can't change each other's results. Plain data: standard library only.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from typing import Any

from PIL import Image

from modules.core.detailer import DetailerUnit
from modules.core.regions import Region
from modules.core.soft_inpainting import SoftInpainting

MODES = ("txt2img", "img2img", "inpaint")
IMAGE_MODES = ("img2img", "inpaint")  # modes that start from an input picture
# A1111's names, in A1111's order: the index is what its API sends.
RESIZE_MODES = ("Just resize", "Crop and resize", "Resize and fill")
MASKED_CONTENT = ("fill", "original", "latent noise", "latent nothing")
MASK_MODES = ("Inpaint masked", "Inpaint not masked")
INPAINT_AREAS = ("Whole picture", "Only masked")
OUTPAINT_FILLS = ("edge", "noise")
# sd-webui-controlnet's names, in its order (its API also sends the index).
CONTROL_MODES = ("Balanced", "My prompt is more important", "ControlNet is more important")
CONTROL_RESIZE_MODES = ("Just Resize", "Crop and Resize", "Resize and Fill")
# Which passes of the hires fix a unit acts in (sd-webui-controlnet's "Hires-Fix Option"); without the hires fix,
# every unit acts in the one pass there is.
CONTROL_HR_OPTIONS = ("Both", "Low res only", "High res only")
MAX_SEED = 2**32 - 1
DEFAULT_SAMPLER = "Euler a"
DEFAULT_SCHEDULE = "Automatic"
VAE_AUTOMATIC = "Automatic"
VAE_NONE = "None"
DECODE_METHODS = ("Full", "TAESD")  # A1111's sd_vae_decode_method
MAX_DEEPCACHE_INTERVAL = 10
# diffusers' step caches for the transformer families (engine/step_cache.py); "" is off.
STEP_CACHES = ("FirstBlockCache", "TaylorSeer", "MagCache")


class RequestError(ValueError):
    """A request that cannot run; the message is shown to the user as is."""


@dataclass(frozen=True)
class LoraRef:
    name: str
    weight: float = 1.0


@dataclass(frozen=True)
class ControlUnit:
    """One ControlNet unit, with the sd-webui-controlnet extension's field names and defaults."""

    enabled: bool = True
    image: Image.Image | None = None  # None: use the img2img input picture
    module: str = "none"  # the preprocessor
    model: str = ""  # a ControlNet in models/ControlNet, by name
    weight: float = 1.0
    guidance_start: float = 0.0  # fraction of the steps at which the unit starts acting
    guidance_end: float = 1.0
    control_mode: int = 0  # index into CONTROL_MODES
    resize_mode: int = 1  # index into CONTROL_RESIZE_MODES
    pixel_perfect: bool = False  # preprocessor resolution from the output size
    processor_res: int = 512
    threshold_a: float | None = None  # the preprocessor's first/second slider; None = its default
    threshold_b: float | None = None
    hr_option: int = 0  # index into CONTROL_HR_OPTIONS
    # sd-webui-controlnet returns the unit's map after the pictures unless this is off; never saved as a picture.
    save_detected_map: bool = True


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
    # Flux-dev's distilled guidance (Forge's "Distilled CFG Scale"), fed to its guidance embedding; None = 3.5, the
    # model's default. Real CFG (`cfg_scale` above 1) runs beside it with the negative prompt, as in Forge.
    distilled_cfg_scale: float | None = None
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
    # img2img and inpaint (A1111's names and defaults of its UI)
    init_images: tuple[Image.Image, ...] = ()  # image i of the job starts from init_images[i % len]
    mask: Image.Image | None = None  # white = repaint; RGBA masks use their alpha (A1111's API rule)
    denoising_strength: float = 0.75  # 0 returns the input, 1 ignores it
    resize_mode: int = 0  # index into RESIZE_MODES
    mask_blur: int = 4
    inpainting_fill: int = 1  # index into MASKED_CONTENT
    inpaint_full_res: bool = False  # "Only masked": crop around the mask, work at width x height, paste back
    inpaint_full_res_padding: int = 32
    inpainting_mask_invert: bool = False
    outpaint: tuple[int, int, int, int] = (0, 0, 0, 0)  # pixels added left, right, up, down (inpaint mode)
    outpaint_fill: str = "edge"  # how the new area starts: OUTPAINT_FILLS
    # Face restoration (A1111's "Restore faces"): each picture after decode, before saving. The restorer and
    # CodeFormer's weight are the user's settings (face_restoration_model, code_former_weight), copied in here.
    restore_faces: bool = False
    face_restorer: str = "CodeFormer"
    codeformer_weight: float = 0.5  # CodeFormer's fidelity w: 0 = the most restoration, 1 = the closest to the input
    control_units: tuple[ControlUnit, ...] = ()
    # Hires. fix (txt2img; `denoising_strength` above is its strength): A1111's API names and defaults.
    # Empty/None values mean "as in the first pass".
    enable_hr: bool = False
    hr_scale: float = 2.0
    hr_upscaler: str = "Latent"
    hr_second_pass_steps: int = 0  # 0 = the first pass's steps
    hr_resize_x: int = 0  # both 0 = scale by hr_scale
    hr_resize_y: int = 0
    hr_cfg: float | None = None
    hr_sampler: str = ""
    hr_schedule_type: str = ""
    hr_prompt: str = ""
    hr_negative_prompt: str = ""
    hr_checkpoint: str = ""
    # Refiner (A1111 1.6): another checkpoint of the same family makes the steps after `refiner_switch_at`
    # (a fraction of the steps, in (0, 1)); with the hires fix on, of the second pass's steps. "" = no refiner.
    refiner_checkpoint: str = ""
    refiner_switch_at: float = 0.8
    # A1111's settings that change the picture (its option names in comments); per request, from the user's options.
    eta_noise_seed_delta: int = 0  # ENSD: the sampler's own noise (ancestral and SDE steps) uses seed + this
    eta_ddim: float = 0.0  # DDIM's eta (0 = deterministic DDIM); other samplers ignore it, as in A1111
    color_correction: bool = False  # img2img_color_correction: match the result's colours to the input's
    img2img_fix_steps: bool = False  # run exactly `steps` steps whatever the denoising strength
    inpainting_mask_weight: float = 1.0  # inpainting checkpoints: how much of the masked area they are shown hidden
    # SDXL refiner checkpoints are conditioned on an aesthetic score: this one for the prompt, the low one for the
    # negative prompt (sdxl_refiner_high_aesthetic_score, sdxl_refiner_low_aesthetic_score); other models ignore them.
    aesthetic_score: float = 6.0
    negative_aesthetic_score: float = 2.5
    # Fields the service adds to every picture's infotext, e.g. the wildcards' "Template" a prompt was drawn from.
    infotext_fields: dict[str, str] = field(default_factory=dict)
    soft_inpainting: SoftInpainting | None = None  # inpaint: grey mask values repaint in proportion (A1111's)
    # Regional prompting: areas with their own prompt (and <lora:...>); `prompt` is the base shared by all.
    regions: tuple[Region, ...] = ()
    detailer: tuple[DetailerUnit, ...] = ()  # detect and redraw (ADetailer's) each finished picture, unit by unit
    # Fast paths (issue 16): A1111's "sd_vae_decode_method" (Full / TAESD, the tiny decoder in models/VAE-approx);
    # DeepCache: the UNet's deep features reused for N-1 of every N steps (0 = off; lossy, named in the infotext).
    vae_decode_method: str = "Full"
    deepcache_interval: int = 0
    # Flux-class transformers: one of diffusers' step caches (STEP_CACHES; "" = off; lossy, named in the infotext).
    step_cache: str = ""
    # Text-encoder and VAE files for a checkpoint that lacks them (Forge's forge_additional_modules): file names.
    additional_modules: tuple[str, ...] = ()

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


    @property
    def outpainting(self) -> bool:
        return any(self.outpaint)


@dataclass(frozen=True)
class Limits:
    max_size: int = 2048
    max_input_side: int = 8192  # uploads larger than this (per side) are refused, not resized
    max_steps: int = 150
    max_batch_count: int = 100
    max_batch_size: int = 8
    max_cfg: float = 30.0
    # The prompt-editing grammar is parsed in the worker; its cost grows with the brackets (~1-3 ms each), so a
    # prompt of 40,000 '[' held the single worker for minutes. Within these bounds a prompt parses in under a second.
    max_prompt_length: int = 10_000  # characters, per prompt field
    max_prompt_brackets: int = 300  # [ ] ( ) : | per prompt field that uses '[' (see prompts.editing_syntax_count)
    # Pictures sent with one request are decoded and held while the job waits: bound their number and pixels.
    max_input_images: int = 16
    max_input_pixels: int = 8192 * 8192  # all the request's pictures together (one picture at max_input_side)
