"""generate(request) -> GenerationResult: the core's one entry point. No gradio, no HTTP.

Noise is drawn per image on the CPU from that image's seed (A1111's default "RNG source: CPU"), so a seed
gives the same picture whatever the batch size or device. Progress, previews and interrupt go through an
injected `JobControl`, checked in diffusers' step callback: a Gradio cancel alone cannot stop a thread.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from PIL import Image

from modules import previews
from modules.conditioning import conditioning_at, encode_schedule, is_sdxl
from modules.devices import generator_for
from modules.infotext import format_infotext
from modules.prompts import extract_loras, prompt_hints
from modules.requests import VAE_AUTOMATIC, VAE_NONE, GenerationRequest

log = logging.getLogger(__name__)
VERSION = "sdwebui-0.1"


@dataclass
class StepInfo:
    step: int  # steps done in this batch
    steps: int
    batch_index: int
    batch_count: int
    preview: Image.Image | None = None

    @property
    def fraction(self) -> float:
        return (self.batch_index * self.steps + self.step) / max(1, self.batch_count * self.steps)


@dataclass
class JobControl:
    """Per-job flags and callbacks. Interrupt stops the job at the next step; skip drops the current batch."""

    interrupt: threading.Event = field(default_factory=threading.Event)
    skip: threading.Event = field(default_factory=threading.Event)
    on_step: Callable[[StepInfo], None] | None = None
    preview_every: int = 0  # 0 = no previews


@dataclass
class GenerationResult:
    request: GenerationRequest
    images: list[Image.Image]
    seeds: list[int]
    subseeds: list[int]
    infotexts: list[str]
    interrupted: bool = False
    warnings: list[str] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)  # filled by whoever saves the images

    @property
    def info(self) -> str:
        return self.infotexts[0] if self.infotexts else ""


def slerp(strength: float, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation between two noise tensors (variation seeds), per image."""
    flat_low, flat_high = low.reshape(low.shape[0], -1), high.reshape(high.shape[0], -1)
    dot = (flat_low / flat_low.norm(dim=1, keepdim=True) * flat_high / flat_high.norm(dim=1, keepdim=True)).sum(1)
    if dot.abs().mean() > 0.9995:
        return low * (1 - strength) + high * strength
    omega = torch.acos(dot.clamp(-1, 1))
    so = torch.sin(omega)
    a = (torch.sin((1.0 - strength) * omega) / so).reshape(-1, *([1] * (low.dim() - 1)))
    b = (torch.sin(strength * omega) / so).reshape(-1, *([1] * (low.dim() - 1)))
    return a * low + b * high


def make_noise(shape: tuple[int, ...], seeds: list[int], subseeds: list[int], strength: float) -> torch.Tensor:
    """Initial latents for a batch, one seed per image, on the CPU in float32."""
    noise = torch.stack([torch.randn(shape, generator=generator_for(s, torch.device("cpu"))) for s in seeds])
    if strength > 0:
        sub = torch.stack([torch.randn(shape, generator=generator_for(s, torch.device("cpu"))) for s in subseeds])
        noise = slerp(strength, noise, sub)
    return noise


def infotext_params(request: GenerationRequest, loaded: Any, seed: int, subseed: int) -> dict[str, Any]:
    info = loaded.info
    params: dict[str, Any] = {
        "Steps": request.steps,
        "Sampler": request.sampler,
        "Schedule type": request.schedule_type,
        "CFG scale": request.cfg_scale,
        "Seed": seed,
        "Size": f"{request.width}x{request.height}",
        "Model hash": info.short_hash,
        "Model": info.model_name,
    }
    if request.vae not in (VAE_AUTOMATIC, VAE_NONE, ""):
        params["VAE"] = request.vae
    if request.subseed_strength > 0:
        params["Variation seed"] = subseed
        params["Variation seed strength"] = request.subseed_strength
    if request.clip_skip > 1:
        params["Clip skip"] = request.clip_skip
    params["Version"] = VERSION
    return params


def _step_callback(control: JobControl | None, batch_index: int, batch_count: int, steps: int,
                   factors: tuple[torch.Tensor, torch.Tensor] | None, schedule: list, batch_size: int) -> Callable:
    def callback(pipe: Any, step: int, timestep: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
        if len(schedule) > 1:  # prompt editing / alternation: the next step may use other embeddings
            kwargs.update(conditioning_at(schedule, step + 1).callback_tensors(batch_size,
                                                                               pipe.do_classifier_free_guidance))
        if control is None:
            return kwargs
        if control.interrupt.is_set() or control.skip.is_set():
            pipe._interrupt = True  # diffusers skips the remaining steps and decodes what it has
        if control.on_step is not None:
            preview = None
            done = step + 1
            if factors is not None and control.preview_every and (done % control.preview_every == 0) and done < steps:
                preview = previews.latents_to_image(kwargs["latents"], *factors)
            control.on_step(StepInfo(done, steps, batch_index, batch_count, preview))
        return kwargs

    return callback


def generate(request: GenerationRequest, models: Any, samplers: Any, control: JobControl | None = None
             ) -> GenerationResult:
    """Run a txt2img request to images and infotexts (saving is the caller's job)."""
    request = request.with_resolved_seeds()
    seeds, subseeds = request.seeds(), request.subseeds()
    images: list[Image.Image] = []
    infotexts: list[str] = []
    interrupted = False
    prompt, loras, warnings = extract_loras(request.prompt)
    warnings += [f"LoRA {tag.name} was ignored: LoRA support is not available yet." for tag in loras]
    warnings += [h for h in prompt_hints(request.prompt) if h not in warnings]
    with models.use(request.checkpoint, request.vae) as loaded:
        pipe = loaded.pipe
        pipe.scheduler = samplers.make_scheduler(request.sampler, request.schedule_type, loaded.scheduler_config,
                                                 noise_seed=request.seed)
        factor = pipe.vae_scale_factor
        shape = (pipe.vae.config.latent_channels, request.height // factor, request.width // factor)
        factors = None
        if control is not None and control.preview_every:
            folder = loaded.info.path if loaded.info.kind == "diffusers" else None
            factors = previews.factors_for(loaded.info.family, folder)
        # A1111's prompt syntax (weights, BREAK, long prompts, [from:to:when]) becomes embeddings here;
        # the pipeline only ever sees prompt_embeds. Clip skip is applied by the encoder, as A1111 does.
        schedule = encode_schedule(pipe, prompt, request.negative_prompt, request.steps,
                                   clip_skip=request.clip_skip, decimal_is_fraction=True)
        tensor_inputs = ["latents", "prompt_embeds"] + (["add_text_embeds"] if is_sdxl(pipe) else [])
        device, dtype = pipe.unet.device, pipe.unet.dtype
        for batch_index in range(request.batch_count):
            start = batch_index * request.batch_size
            batch_seeds = seeds[start:start + request.batch_size]
            batch_subseeds = subseeds[start:start + request.batch_size]
            latents = make_noise(shape, batch_seeds, batch_subseeds, request.subseed_strength).to(device, dtype)
            n = len(batch_seeds)
            output = pipe(
                **schedule[0].pipe_kwargs(n),
                height=request.height,
                width=request.width,
                num_inference_steps=request.steps,
                guidance_scale=request.cfg_scale,
                latents=latents,
                generator=[generator_for(s, torch.device("cpu")) for s in batch_seeds],
                callback_on_step_end=_step_callback(control, batch_index, request.batch_count, request.steps,
                                                    factors, schedule, n),
                callback_on_step_end_tensor_inputs=tensor_inputs,
                output_type="pil",
            )
            for i, image in enumerate(output.images):
                images.append(image)
                params = infotext_params(request, loaded, batch_seeds[i], batch_subseeds[i])
                infotexts.append(format_infotext(request.prompt, request.negative_prompt, params))
            if control is not None and control.interrupt.is_set():
                interrupted = True
                break
            if control is not None:
                control.skip.clear()
    return GenerationResult(request=request, images=images, seeds=seeds[: len(images)],
                            subseeds=subseeds[: len(images)], infotexts=infotexts, interrupted=interrupted,
                            warnings=warnings)

