"""Hires. fix on the flow families: draw small, upscale, redraw at the large size through the family's img2img
pipeline (A1111's second pass, as engine/hires.py does it for SD).

The upscale is either a pixel upscaler (the first pass decoded, upscaled, and encoded again by the img2img
pipeline) or, on Flux and SD 3.x, one of the "Latent" modes: their img2img pipelines take latents in place of a
picture, so the first pass ends as latents and is resized in latent space. The other families' img2img pipelines
always encode a picture; a latent mode is refused for them with the reason. The second pass runs exactly its own
steps (A1111's rule: the schedule is stretched to steps / denoising strength), with its own sampler, CFG and
prompts, and the noise drawn from the same seeds at the large size. Progress shows both passes on one bar.
ControlNet units (engine/flow_control.py) hand the second pass its pipeline (Flux's ControlNet img2img) and their
maps at the hires size.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import torch
from PIL import Image

from modules.core.prompts import extract_loras
from modules.core.requests import GenerationRequest, RequestError
from modules.core.validation import hires_size
from modules.core.results import JobControl
from modules.engine import flow_samplers
from modules.engine.hires import TwoPassProgress, infotext_fields
from modules.engine.latents import cpu_generators
from modules.engine.models import flow_families
from modules.engine.upscaling import UpscalerError, UpscalerRegistry, is_latent, latent_upscale

LATENT_FAMILIES = ("flux", "sd3")  # their img2img pipelines take latents as the picture
MULTIPLE = 16  # the VAE's 8x and the transformer's 2x2 patches


def check(request: GenerationRequest, family: str | None, label: str, name: str) -> None:
    """Refuse, before queueing, a hires fix this flow checkpoint cannot run, saying why and what to do."""
    if not request.enable_hr or request.mode != "txt2img":
        return
    specs = flow_families.family_pipelines(family)
    if not any(p.img2img for p in specs):
        raise RequestError(f"Hires. fix is not available for {name} ({label}): it needs an img2img pipeline for its "
                           "second pass, and this model has none. Turn it off and generate at the size you want.")
    if request.hr_checkpoint:
        raise RequestError(f"A hires checkpoint is not available for {name} ({label}) yet: the second pass runs on "
                           "the same checkpoint. Choose 'Use same checkpoint'.")
    if is_latent(request.hr_upscaler) and not any(p.family in LATENT_FAMILIES for p in specs):
        raise RequestError(f"Hires upscaler {request.hr_upscaler!r} is not available for {name} ({label}): its "
                           "img2img pipeline takes pictures, not latents. Choose a pixel upscaler (Lanczos, or an "
                           "upscaler model such as ESRGAN).")
    _, _, keep_w, keep_h = hires_size(request)
    for side, value in (("width", keep_w), ("height", keep_h)):
        if value % MULTIPLE:
            raise RequestError(f"The hires {side} has to be a multiple of {MULTIPLE} for {label}, but is {value}. "
                               f"Change 'Upscale by' or 'Resize to' so that it is (e.g. "
                               f"{max(MULTIPLE, value // MULTIPLE * MULTIPLE)}).")
    if request.hr_sampler or request.hr_schedule_type:
        try:
            flow_samplers.check(request.hr_sampler or request.sampler, request.hr_schedule_type or
                                request.schedule_type, label)
        except flow_samplers.FlowSamplerError as exc:
            raise RequestError(f"Hires sampler: {exc}") from None


def second_pass_steps(steps: int, strength: float) -> tuple[int, float]:
    """(schedule length, strength) so that exactly `steps` steps run: the flow img2img pipelines start at
    int(total - total * strength), so the strength sits a hair under steps / total."""
    total = max(steps, int(steps / min(strength, 0.999)))
    return total, (steps - 1e-4) / total


@dataclass
class FlowHires:
    """The second pass of every batch of one txt2img job."""

    request: GenerationRequest  # the upscaler's name resolved
    pipe: Any  # the img2img pipeline sharing the checkpoint's weights
    latent: bool  # a "Latent" upscale mode
    guidance: dict[str, Any]  # the second pass's guidance arguments (its own CFG and negative prompt)
    prompt: str
    steps: int
    scheduler: Any
    upscalers: UpscalerRegistry
    control: JobControl | None  # the job's control seen through `progress`
    progress: TwoPassProgress | None
    infotext: dict[str, Any]
    warnings: list[str]

    def first_pass_kwargs(self) -> dict[str, Any]:
        return {"output_type": "latent"} if self.latent else {}

    def run(self, first_pipe: Any, first: Any, batch_index: int, seeds: list[int],
            callback: Callable[[int], Callable[..., Any]]) -> list[Image.Image]:
        """The batch's final pictures from the first pass's output (latents or pictures). `callback(steps)` makes
        the job's step callback for a pass of that many steps."""
        request, control = self.request, self.control
        latents = _unpack(first_pipe, first, request.height, request.width) if self.latent else None
        if control is not None and (control.interrupt.is_set() or control.skip.is_set()):
            if control.interrupt.is_set():
                self._warn("Interrupted during the first pass: the first-pass pictures were returned.")
            return _decode(self.pipe, latents) if self.latent else first
        to_w, to_h, keep_w, keep_h = hires_size(request)
        factor = self.pipe.vae_scale_factor
        if self.latent:
            start = latent_upscale(latents.float(), request.hr_upscaler, to_h // factor, to_w // factor)
            cut_x, cut_y = (to_w - keep_w) // factor, (to_h - keep_h) // factor
            start = start[:, :, cut_y // 2:start.shape[2] - (cut_y + 1) // 2,
                          cut_x // 2:start.shape[3] - (cut_x + 1) // 2].to(latents.dtype)
        else:
            start = [_middle(self.upscalers.upscale_to(p, request.hr_upscaler, to_w, to_h), keep_w, keep_h)
                     for p in first]
        if request.denoising_strength == 0:
            return _decode(self.pipe, start) if self.latent else start
        total, strength = second_pass_steps(self.steps, request.denoising_strength)
        self.pipe.scheduler = self.scheduler
        if hasattr(self.pipe.scheduler, "generators"):  # Euler a's own noise, per image, as in the first pass
            self.pipe.scheduler.generators = cpu_generators(seeds, request.eta_noise_seed_delta)
        if self.progress is not None:
            self.progress.offset = request.steps
        try:
            return self.pipe(prompt=self.prompt, image=start, strength=strength, num_inference_steps=total,
                             num_images_per_prompt=len(seeds), generator=cpu_generators(seeds), height=keep_h,
                             width=keep_w, callback_on_step_end=callback(self.steps), **self.guidance).images
        finally:
            if self.progress is not None:
                self.progress.offset = 0

    def _warn(self, note: str) -> None:
        if note not in self.warnings:
            self.warnings.append(note)


def plan(request: GenerationRequest, loaded: Any, spec: flow_families.FlowPipeline, control: JobControl | None,
         upscalers: UpscalerRegistry, warnings: list[str], derive: Callable[[str], Any],
         guidance: Callable[[Any, GenerationRequest], dict[str, Any]],
         controls: Callable[[int, int], Any] | None = None) -> FlowHires | None:
    """The second pass of a txt2img job (None when the hires fix is off). `derive(cls_name)` gives a pipeline
    sharing the checkpoint's weights; `guidance(pipe, request)` its guidance arguments for a request;
    `controls(width, height)` the ControlNet units of the second pass (a flow_control.FlowControls: its pipeline,
    None for the family's img2img pipeline, and its arguments), or None when no unit acts there."""
    if not request.enable_hr or request.mode != "txt2img" or not spec.img2img:
        return None
    try:
        request = replace(request, hr_upscaler=upscalers.find(request.hr_upscaler, latent_ok=True))
    except UpscalerError as exc:
        raise RequestError(f"Hires upscaler: {exc}") from None
    label = loaded.info.family_label
    sampler = request.hr_sampler or request.sampler
    schedule = request.hr_schedule_type or request.schedule_type
    hr_prompt, tags, _ = extract_loras(request.hr_prompt or request.prompt)
    if request.hr_prompt and tags != extract_loras(request.prompt)[1]:
        warnings.append("LoRA tags in the hires prompt are ignored: the first prompt's LoRAs stay in effect.")
    second = replace(request, prompt=hr_prompt, negative_prompt=request.hr_negative_prompt or request.negative_prompt,
                     cfg_scale=request.cfg_scale if request.hr_cfg is None else request.hr_cfg)
    _, _, keep_w, keep_h = hires_size(request)
    units = controls(keep_w, keep_h) if controls is not None else None
    pipe = units.pipe if units is not None and units.pipe is not None else derive(spec.img2img)
    guidance_args = guidance(pipe, second)
    if units is not None:  # check() refused the guidance a ControlNet img2img pipeline would drop
        guidance_args = units.call_kwargs(pipe, guidance_args)
    steps = request.hr_second_pass_steps or request.steps
    progress = TwoPassProgress(control, request.steps, steps) if control is not None else None
    return FlowHires(
        request=request, pipe=pipe, latent=is_latent(request.hr_upscaler), guidance=guidance_args,
        prompt=hr_prompt, steps=steps,
        scheduler=flow_samplers.make_scheduler(sampler, schedule, loaded.scheduler_config, label),
        upscalers=upscalers, control=progress.control if progress is not None else control, progress=progress,
        infotext=infotext_fields(request, sampler, schedule, None), warnings=warnings)


def _middle(picture: Image.Image, width: int, height: int) -> Image.Image:
    """The middle of an upscaled picture covering the kept size (A1111 keeps the middle when both sides are set)."""
    if picture.size == (width, height):
        return picture
    left, top = (picture.width - width) // 2, (picture.height - height) // 2
    return picture.crop((left, top, left + width, top + height))


def _unpack(pipe: Any, latents: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """The first pass's latents as (B, C, h, w) in the VAE's scaled space (Flux returns them packed in tokens)."""
    if latents.ndim == 3:
        return pipe._unpack_latents(latents, height, width, pipe.vae_scale_factor)
    return latents


@torch.no_grad()
def _decode(pipe: Any, latents: torch.Tensor) -> list[Image.Image]:
    """Flux/SD 3.x latents (B, C, h, w, scaled) to pictures, as their pipelines decode them."""
    config = pipe.vae.config
    latents = latents.to(pipe.vae.device, pipe.vae.dtype) / config.scaling_factor + (config.shift_factor or 0.0)
    return pipe.image_processor.postprocess(pipe.vae.decode(latents, return_dict=False)[0], output_type="pil")
