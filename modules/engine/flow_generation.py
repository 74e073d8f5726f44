"""Generation for the flow-matching transformer families (Flux.1, SD 3.x): txt2img and img2img.

These run through diffusers' own pipelines (FluxPipeline, StableDiffusion3Pipeline and their img2img pipelines,
derived with `from_pipe`, sharing the weights), so a picture is the one the bare pipeline makes from the same
inputs. What is ours: the seeds (per-image CPU noise, as for SD: a seed gives the same picture whatever the
batch), the samplers (engine/flow_samplers.py), Forge's guidance fields and the infotext.

Guidance, as in Forge: `cfg_scale` is real classifier-free guidance with the negative prompt (at 1 the unguided
pass is skipped: schnell and turbo models run at CFG 1); `distilled_cfg_scale` feeds Flux-dev's guidance
embedding. Features these families cannot take yet are refused by `check` before the job waits in the queue.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from PIL import Image

from modules.core.infotext import format_infotext
from modules.core.prompts import extract_loras
from modules.core.requests import VAE_AUTOMATIC, VAE_NONE, GenerationRequest, RequestError
from modules.core.results import GenerationResult, JobControl, StepInfo
from modules.engine import flow_samplers, inpainting
from modules.engine.color_correction import match_colours
from modules.engine.latents import cpu_generators, make_noise
from modules.engine.models.source import ModelSource

log = logging.getLogger(__name__)
DEFAULT_DISTILLED_CFG = 3.5  # Flux-dev's, and Forge's default
_WEIGHTED = re.compile(r"\([^()]*:\s*-?[\d.]+\s*\)|\[[^\[\]]*\]|\(\(|\)\)")


def check(request: GenerationRequest, family: str | None, label: str, name: str) -> None:
    """Refuse, with the reason, what a Flux or SD 3.x job cannot do yet (called at submit time and again when it runs)."""
    def refuse(what: str, hint: str) -> None:
        raise RequestError(f"{what} is not available for {name} ({label}) yet. {hint}")

    if request.mode not in ("txt2img", "img2img") or request.mask is not None:
        refuse("Inpainting and outpainting", "Use txt2img or img2img without a mask.")
    if request.control_units:
        refuse("ControlNet and IP-Adapter units", "Disable the units, or choose an SD 1.x/SDXL checkpoint.")
    if getattr(request, "regions", None):
        refuse("Regional prompting", "Remove the regions, or choose an SD 1.x/SDXL checkpoint.")
    if request.enable_hr:
        refuse("Hires. fix", "Turn it off and generate at the size you want.")
    if request.refiner_checkpoint:
        refuse("A refiner", "Choose no refiner.")
    if getattr(request, "detailer", None):
        refuse("ADetailer (detect and redraw)", "Turn its units off.")
    if request.restore_faces:
        refuse("Face restoration", "Turn it off; restore faces in Extras afterwards.")
    if request.vae not in (VAE_AUTOMATIC, VAE_NONE, ""):
        refuse("A separate VAE file", "Choose 'Automatic': the model's own VAE is used.")
    if request.clip_skip > 1:
        refuse("Clip skip", "Set it to 1 (the T5 text encoder has no such setting).")
    if request.vae_decode_method != "Full":
        refuse("The TAESD decode method", "Choose the full VAE decode.")
    if request.deepcache_interval:
        refuse("DeepCache", "Set its interval to 0 (it caches UNet blocks; these models have a transformer).")
    if request.subseed_strength > 0 and request.mode != "txt2img":
        refuse("Variation seeds in img2img", "Set the variation strength to 0 (txt2img takes them).")
    if extract_loras(request.prompt)[1]:
        refuse("LoRA", "Remove the <lora:...> tags.")
    multiple = 16  # the VAE's 8x and the transformer's 2x2 patches (Flux's packing, SD3's patch embedding)
    for side, value in (("Width", request.width), ("Height", request.height)):
        if value % multiple:
            raise RequestError(f"{side} has to be a multiple of {multiple} for {label}, but is {value}. "
                               f"Try {max(multiple, round(value / multiple) * multiple)}.")
    try:
        flow_samplers.check(request.sampler, request.schedule_type, label)
    except flow_samplers.FlowSamplerError as exc:
        raise RequestError(str(exc)) from None


@dataclass
class _Job:
    request: GenerationRequest
    loaded: Any  # LoadedModel
    pipe: Any
    control: JobControl | None
    infotext: Callable[..., dict[str, Any]]  # generation.infotext_params
    extra: dict[str, Any] = field(default_factory=dict)
    images: list[Image.Image] = field(default_factory=list)
    infotexts: list[str] = field(default_factory=list)
    interrupted: bool = False

    def add(self, image: Image.Image, seed: int, subseed: int) -> None:
        self.images.append(image)
        params = self.infotext(self.request, self.loaded, seed, subseed, self.extra)
        self.infotexts.append(format_infotext(self.request.prompt, self.request.negative_prompt, params))
        if self.control is not None and self.control.on_image is not None:
            self.control.on_image(len(self.images) - 1, image, seed, self.infotexts[-1])

    def stop_requested(self) -> bool:
        return self.control is not None and self.control.interrupt.is_set()


def is_flux(pipe: Any) -> bool:
    return type(pipe).__name__.startswith("Flux")


def guidance_kwargs(pipe: Any, request: GenerationRequest, warnings: list[str], label: str) -> dict[str, Any]:
    """The pipeline's guidance arguments: real CFG with the negative prompt, and Flux-dev's distilled guidance."""
    if not is_flux(pipe):
        return {"guidance_scale": request.cfg_scale, "negative_prompt": request.negative_prompt}
    distilled = request.distilled_cfg_scale
    if not pipe.transformer.config.guidance_embeds and distilled is not None:
        warnings.append(f"Distilled CFG Scale has no effect on {label}: it has no guidance embedding "
                        "(schnell-like). CFG scale is its guidance.")
    # FluxPipeline runs the unguided pass only when true_cfg_scale > 1 and a negative prompt is given.
    return {"true_cfg_scale": request.cfg_scale, "negative_prompt": request.negative_prompt,
            "guidance_scale": DEFAULT_DISTILLED_CFG if distilled is None else distilled}


def _noise(pipe: Any, request: GenerationRequest, seeds: list[int], subseeds: list[int]) -> torch.Tensor:
    """Initial latents from the seeds, in the layout the pipeline takes (Flux packs 2x2 patches into tokens)."""
    factor = pipe.vae_scale_factor
    channels = pipe.transformer.config.in_channels // (4 if is_flux(pipe) else 1)
    h, w = 2 * (request.height // (factor * 2)), 2 * (request.width // (factor * 2))
    noise = make_noise((channels, h, w), seeds, subseeds, request.subseed_strength)
    if is_flux(pipe):
        noise = pipe._pack_latents(noise, len(seeds), channels, h, w)
    return noise.to(pipe.transformer.device, pipe.transformer.dtype)


def _callback(job: _Job, batch_index: int, steps: int) -> Callable[..., dict[str, Any]]:
    def callback(pipe: Any, step: int, timestep: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
        control = job.control
        if control is None:
            return kwargs
        if control.interrupt.is_set() or control.skip.is_set():
            pipe._interrupt = True  # the pipeline skips its remaining steps and decodes what it has
        if control.on_step is not None:
            control.on_step(StepInfo(step + 1, steps, batch_index, job.request.batch_count, None))
        return kwargs

    return callback


def _img2img_pipe(loaded: Any) -> Any:
    """The img2img pipeline sharing the loaded model's modules (made once per loaded model)."""
    from diffusers import FluxImg2ImgPipeline, StableDiffusion3Img2ImgPipeline

    cls = FluxImg2ImgPipeline if is_flux(loaded.pipe) else StableDiffusion3Img2ImgPipeline
    pipe = loaded.derived.get(cls.__name__)
    if pipe is None:
        pipe = cls.from_pipe(loaded.pipe, dtype=loaded.pipe.dtype)  # dtype=: from_pipe would convert otherwise
        pipe.set_progress_bar_config(disable=True)
        loaded.derived[cls.__name__] = pipe
    return pipe


def generate(request: GenerationRequest, models: ModelSource, control: JobControl | None,
             infotext: Callable[..., dict[str, Any]]) -> GenerationResult:
    """Run a validated request on a Flux or SD 3.x checkpoint. `infotext` is generation.infotext_params."""
    seeds, subseeds = request.seeds(), request.subseeds()
    warnings: list[str] = []
    prompt = request.prompt
    if _WEIGHTED.search(prompt) or _WEIGHTED.search(request.negative_prompt):
        warnings.append("Prompt weights such as (word:1.2) are not applied to this model's T5 text encoder: "
                        "the prompt was used as written.")
    prepared = inpainting.prepare(request) if request.mode == "img2img" else None
    with models.use(request.checkpoint, request.vae) as loaded:
        info = loaded.info
        check(request, info.family, info.family_label, info.name)
        job = _Job(request, loaded, loaded.pipe if prepared is None else _img2img_pipe(loaded), control, infotext)
        job.pipe.scheduler = flow_samplers.make_scheduler(request.sampler, request.schedule_type,
                                                          loaded.scheduler_config, info.family_label)
        guidance = guidance_kwargs(job.pipe, request, warnings, info.family_label)
        job.extra = _infotext_extra(job.pipe, request, loaded.scheduler_config)
        if prepared is not None:
            warnings += prepared.warnings
            job.extra.update(prepared.params, Size=f"{prepared.width}x{prepared.height}")
        for batch_index in range(request.batch_count):
            if job.stop_requested():
                job.interrupted = True
                break
            start = batch_index * request.batch_size
            batch_seeds, batch_subseeds = seeds[start:start + request.batch_size], subseeds[start:start + request.batch_size]
            images = _run_batch(job, prompt, prepared, guidance, batch_index, start, batch_seeds, batch_subseeds)
            for i, image in enumerate(images):
                job.add(image, batch_seeds[i], batch_subseeds[i])
            if job.stop_requested():
                job.interrupted = True
                break
            if control is not None:
                control.skip.clear()
    count = len(job.images)
    return GenerationResult(request=request, images=job.images, seeds=seeds[:count], subseeds=subseeds[:count],
                            infotexts=job.infotexts, interrupted=job.interrupted, warnings=warnings)


def _run_batch(job: _Job, prompt: str, prepared: inpainting.Prepared | None, guidance: dict[str, Any],
               batch_index: int, start: int, seeds: list[int], subseeds: list[int]) -> list[Image.Image]:
    request, pipe, n = job.request, job.pipe, len(seeds)
    common: dict[str, Any] = dict(prompt=prompt, num_images_per_prompt=n, num_inference_steps=request.steps,
                                  generator=cpu_generators(seeds), **guidance,
                                  callback_on_step_end=_callback(job, batch_index, request.steps))
    # Euler a's own noise, per image: seeded like the image plus A1111's ENSD, so any picture of a batch repeats.
    pipe.scheduler.generators = cpu_generators(seeds, request.eta_noise_seed_delta)
    with torch.no_grad():
        if prepared is None:
            return pipe(**common, height=request.height, width=request.width,
                        latents=_noise(pipe, request, seeds, subseeds)).images
        # img2img: the pipeline noises each picture with that image's seeded generator (the same draw as txt2img's
        # noise for that seed); 1 step at least, as A1111 runs.
        which = [(start + i) % len(prepared.sources) for i in range(n)]
        strength = max(request.denoising_strength, 1.0 / request.steps + 1e-6)
        images = pipe(**common, image=[prepared.sources[j].working for j in which], strength=min(1.0, strength),
                      height=prepared.height, width=prepared.width).images
    if request.color_correction:
        images = [match_colours(image, prepared.sources[j].working) for j, image in zip(which, images)]
    return [inpainting.finish(prepared.sources[j], image) for j, image in zip(which, images)]


def _infotext_extra(pipe: Any, request: GenerationRequest, scheduler_config: dict[str, Any]) -> dict[str, Any]:
    """The family's fields: Forge's "Distilled CFG Scale" (Flux-dev only: it is what the model used) and the shift."""
    extra: dict[str, Any] = {"Shift": flow_samplers.shift_of(scheduler_config)}
    if request.eta_noise_seed_delta and pipe.scheduler.config.stochastic_sampling:
        extra["ENSD"] = request.eta_noise_seed_delta  # only where it changes the picture, as A1111 writes it
    if is_flux(pipe) and pipe.transformer.config.guidance_embeds:
        distilled = request.distilled_cfg_scale
        extra["Distilled CFG Scale"] = DEFAULT_DISTILLED_CFG if distilled is None else distilled
    return extra
