"""Generation for the flow-matching transformer families (Flux.1 with Kontext and Fill, SD 3.x, Chroma, Z-Image,
Qwen-Image and Qwen-Image-Edit, and the generic fallback): txt2img, img2img, edit and fill.

These run through diffusers' own pipelines (the class the folder names and its img2img sibling, derived with
`from_pipe`, sharing the weights), so a picture is the one the bare pipeline makes from the same inputs. What each
class can do is in engine/models/flow_families.py (`PIPELINES`). What is ours: the seeds (per-image CPU noise, as
for SD: a seed gives the same picture whatever the batch), the samplers (engine/flow_samplers.py), Forge's guidance
fields and the infotext. Edit models (Kontext, Qwen-Image-Edit) are img2img's "edit" mode: the prompt is the
instruction and the input pictures are its references; Flux Fill is their inpainting, and Kontext inpaints too
(the first picture is inpainted, a second one is its reference: flow_inpaint.with_references).

Guidance, as in Forge: `cfg_scale` is real classifier-free guidance with the negative prompt (at 1 the unguided
pass is skipped: schnell and turbo models run at CFG 1); `distilled_cfg_scale` feeds Flux-dev's guidance
embedding. Features these families cannot take yet are refused by `check` before the job waits in the queue.
"""

from __future__ import annotations

import inspect
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from PIL import Image

from modules.core.infotext import format_infotext
from modules.core.requests import VAE_AUTOMATIC, VAE_NONE, GenerationRequest, RequestError
from modules.core.results import GenerationResult, JobControl, StepInfo
from modules.engine import flow_control, flow_hires, flow_inpaint, flow_samplers, inpainting
from modules.engine.color_correction import match_colours
from modules.engine.latents import cpu_generators, make_noise
from modules.engine.models import flow_families, flow_loras
from modules.engine.models.source import ModelSource
from modules.engine.controlnet.preprocessors import PreprocessorRegistry
from modules.engine.upscaling import UpscalerRegistry

log = logging.getLogger(__name__)
DEFAULT_DISTILLED_CFG = 3.5  # Flux-dev's, and Forge's default
_WEIGHTED = re.compile(r"\([^()]*:\s*-?[\d.]+\s*\)|\[[^\[\]]*\]|\(\(|\)\)")


def check(request: GenerationRequest, family: str | None, label: str, name: str) -> None:
    """Refuse, with the reason, what a flow-model job cannot do yet (called at submit time and again when it runs)."""
    def refuse(what: str, hint: str) -> None:
        raise RequestError(f"{what} is not available for {name} ({label}) yet. {hint}")

    _check_mode(request, family, label, name)
    flow_control.check(request, family, label, name)
    if getattr(request, "regions", None):
        refuse("Regional prompting", "Remove the regions, or choose an SD 1.x/SDXL checkpoint.")
    flow_hires.check(request, family, label, name)
    if request.refiner_checkpoint:
        refuse("A refiner", "Choose no refiner.")
    if getattr(request, "detailer", None):
        refuse("ADetailer (detect and redraw)", "Turn its units off.")
    if request.restore_faces:
        refuse("Face restoration", "Turn it off; restore faces in Extras afterwards.")
    if request.vae not in (VAE_AUTOMATIC, VAE_NONE, "") and not name.endswith(".safetensors"):  # Flux files take one
        refuse("A separate VAE file", "Choose 'Automatic': the model's own VAE is used.")
    if request.clip_skip > 1:
        refuse("Clip skip", "Set it to 1 (the T5 text encoder has no such setting).")
    if request.vae_decode_method != "Full":
        refuse("The TAESD decode method", "Choose the full VAE decode.")
    if request.deepcache_interval:
        refuse("DeepCache", "Set its interval to 0 (it caches UNet blocks; these models have a transformer).")
    own_noise = all(p.own_noise for p in flow_families.family_pipelines(family))
    if request.subseed_strength > 0 and (request.mode != "txt2img" or not own_noise):
        refuse("Variation seeds", "Set the variation strength to 0 (Flux and SD 3.x take them in txt2img).")
    flow_loras.check(request, family, label, name)
    multiple = 16  # the VAE's 8x and the transformer's 2x2 patches (Flux's packing, SD3's patch embedding)
    for side, value in (("Width", request.width), ("Height", request.height)):
        if value % multiple:
            raise RequestError(f"{side} has to be a multiple of {multiple} for {label}, but is {value}. "
                               f"Try {max(multiple, round(value / multiple) * multiple)}.")
    if family == flow_families.GENERIC:
        return  # the pipeline's own scheduler when it is not a flow-matching one (said in the job's warnings)
    try:
        flow_samplers.check(request.sampler, request.schedule_type, label)
    except flow_samplers.FlowSamplerError as exc:
        raise RequestError(str(exc)) from None


def _check_mode(request: GenerationRequest, family: str | None, label: str, name: str) -> None:
    """The modes the family's pipelines take: img2img on an edit model is an edit, inpaint on Flux Fill a fill."""
    pipelines = flow_families.family_pipelines(family)
    modes = {m for p in pipelines for m in p.modes}
    mode = "inpaint" if request.mask is not None or request.mode == "inpaint" else request.mode
    wanted = {"img2img": ("img2img", "edit"), "inpaint": ("fill", "inpaint")}.get(mode, (mode,))
    if not modes.intersection(wanted):
        what = {"txt2img": "txt2img", "img2img": "img2img", "inpaint": "Inpainting and outpainting"}.get(mode, mode)
        if "fill" in modes:
            hint = "It is an inpainting model: use img2img's Inpaint tab with a mask."
        elif "edit" in modes:
            hint = "It is an edit model: use img2img with a reference picture and the edit as the prompt."
        elif mode == "inpaint":
            hint = ("Use txt2img or img2img without a mask, or a checkpoint of a family that inpaints (Flux, Flux "
                    "Fill, Flux Kontext, SD 3.x, Chroma, Z-Image, Qwen-Image).")
        else:
            hint = "Use txt2img (this pipeline runs through the generic fallback, which draws from text only)."
        raise RequestError(f"{what} is not available for {name} ({label}). {hint}")
    if mode == "inpaint" and "fill" not in modes:
        flow_inpaint.check(request, label, name)
    references = max(p.references for p in pipelines)
    if "edit" in modes and mode == "inpaint" and len(request.init_images) > 1 + references:
        raise RequestError(f"{name} ({label}) inpaints one picture with at most {references} reference picture"
                           f"{'s' if references > 1 else ''}: the first picture is inpainted and the next "
                           f"{'ones are' if references > 1 else 'one is'} its reference, but "
                           f"{len(request.init_images)} pictures were given. Remove the extra pictures.")
    if "edit" in modes and mode == "img2img" and len(request.init_images) > references:
        raise RequestError(f"{name} ({label}) takes at most {references} reference picture"
                           f"{'s' if references > 1 else ''} per edit, but {len(request.init_images)} were given. "
                           "Remove the extra pictures.")
    if "fill" in modes and (request.cfg_scale != 1 or request.negative_prompt.strip()):
        raise RequestError(f"CFG scale and a negative prompt are not available for {name} ({label}): Flux Fill has "
                           "no unguided pass. Set CFG scale to 1, clear the negative prompt, and steer it with "
                           "Distilled CFG Scale (30 is its usual value).")


@dataclass
class _Job:
    request: GenerationRequest
    loaded: Any  # LoadedModel
    pipe: Any
    spec: flow_families.FlowPipeline
    control: JobControl | None
    infotext: Callable[..., dict[str, Any]]  # generation.infotext_params
    extra: dict[str, Any] = field(default_factory=dict)
    images: list[Image.Image] = field(default_factory=list)
    infotexts: list[str] = field(default_factory=list)
    interrupted: bool = False
    hires: flow_hires.FlowHires | None = None  # txt2img's second pass, when the hires fix is on
    references: list[Image.Image] = field(default_factory=list)  # an edit model's inpaint: its reference pictures

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


def _accepts(pipe: Any) -> frozenset[str]:
    return frozenset(inspect.signature(type(pipe).__call__).parameters)


def guidance_kwargs(pipe: Any, spec: flow_families.FlowPipeline, request: GenerationRequest, warnings: list[str],
                    label: str) -> dict[str, Any]:
    """The pipeline's guidance arguments: real CFG with the negative prompt, and the distilled guidance of models
    with a guidance embedding (Flux dev, Kontext, Fill; guidance-distilled Qwen-Image)."""
    distilled = request.distilled_cfg_scale
    embedding = bool(getattr(pipe.transformer.config, "guidance_embeds", False))
    if distilled is not None and not embedding:
        warnings.append(f"Distilled CFG Scale has no effect on {label}: it has no guidance embedding. "
                        "CFG scale is its guidance.")
    distilled = DEFAULT_DISTILLED_CFG if distilled is None else distilled
    if spec.guidance == "distilled":  # Flux Fill: no unguided pass (check() refused CFG and a negative prompt)
        return {"guidance_scale": distilled}
    if spec.guidance == "flux":
        # FluxPipeline runs the unguided pass only when true_cfg_scale > 1 and a negative prompt is given.
        return {"true_cfg_scale": request.cfg_scale, "negative_prompt": request.negative_prompt,
                "guidance_scale": distilled}
    if spec.guidance == "true_cfg":
        extra = {"guidance_scale": distilled} if embedding else {}
        return {"true_cfg_scale": request.cfg_scale, "negative_prompt": request.negative_prompt, **extra}
    kwargs: dict[str, Any] = {"guidance_scale": request.cfg_scale}
    accepts = _accepts(pipe)
    if spec.family == flow_families.GENERIC and "guidance_scale" not in accepts:
        if request.cfg_scale != 1:
            warnings.append(f"CFG scale has no effect on {label}: its pipeline takes no guidance scale.")
        kwargs = {}
    if "negative_prompt" in accepts:
        kwargs["negative_prompt"] = request.negative_prompt
    elif request.negative_prompt.strip():
        raise RequestError(f"{label} takes no negative prompt: clear it.")
    return kwargs


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


def _derived_pipe(loaded: Any, cls_name: str) -> Any:
    """A pipeline of another class sharing the loaded model's modules (made once per loaded model)."""
    import diffusers

    pipe = loaded.derived.get(cls_name)
    if pipe is None:
        cls = getattr(diffusers, cls_name)
        pipe = cls.from_pipe(loaded.pipe, dtype=loaded.pipe.dtype)  # dtype=: from_pipe would convert otherwise
        pipe.set_progress_bar_config(disable=True)
        loaded.derived[cls_name] = pipe
    return pipe


def _pipe_for(loaded: Any, spec: flow_families.FlowPipeline, mode: str) -> Any:
    if mode == "img2img" and spec.img2img:
        return _derived_pipe(loaded, spec.img2img)
    if mode == "inpaint" and spec.inpaint:
        return flow_inpaint.ready(_derived_pipe(loaded, spec.inpaint))
    return loaded.pipe  # txt2img, and the edit and fill pipelines, which take their pictures themselves


def _mode(request: GenerationRequest, spec: flow_families.FlowPipeline) -> str:
    """txt2img, img2img, edit (img2img on an edit model) or fill (inpaint on Flux Fill)."""
    if request.mode == "txt2img":
        return "txt2img"
    if "fill" in spec.modes:
        return "fill"
    if request.mode == "inpaint" and "inpaint" in spec.modes:
        return "inpaint"
    return "edit" if "edit" in spec.modes else "img2img"


def _scheduler(job: _Job, request: GenerationRequest, loaded: Any, warnings: list[str]) -> None:
    """Our flow samplers on the checkpoint's own shift; a generic pipeline with another kind of scheduler keeps
    its own, and the job says so."""
    from diffusers import FlowMatchEulerDiscreteScheduler

    if job.spec.family == flow_families.GENERIC and not isinstance(job.pipe.scheduler,
                                                                    FlowMatchEulerDiscreteScheduler):
        warnings.append(f"Sampler {request.sampler!r} was not applied: {loaded.info.family_label} samples with its "
                        f"own {type(job.pipe.scheduler).__name__}.")
        return
    job.pipe.scheduler = flow_samplers.make_scheduler(request.sampler, request.schedule_type,
                                                      loaded.scheduler_config, loaded.info.family_label)


def generate(request: GenerationRequest, models: ModelSource, control: JobControl | None,
             infotext: Callable[..., dict[str, Any]], upscalers: UpscalerRegistry | None = None,
             preprocessors: PreprocessorRegistry | None = None) -> GenerationResult:
    """Run a validated request on a flow-matching checkpoint. `infotext` is generation.infotext_params; `upscalers`
    serves the hires fix, `preprocessors` the ControlNet units (the built-in ones when None)."""
    seeds, subseeds = request.seeds(), request.subseeds()
    warnings: list[str] = []
    prompt, loras = flow_loras.job_loras(request.prompt, models, warnings)
    if _WEIGHTED.search(prompt) or _WEIGHTED.search(request.negative_prompt):
        warnings.append("Prompt weights such as (word:1.2) are not applied to this model's text encoder: "
                        "the prompt was used as written.")
    prepared = flow_inpaint.on_grid(inpainting.prepare(request)) if request.mode != "txt2img" else None
    with models.use(request.checkpoint, request.vae, loras, modules=request.additional_modules) as loaded:
        info = loaded.info
        check(request, info.family, info.family_label, info.name)
        spec = flow_families.pipeline_of(type(loaded.pipe).__name__)
        mode = _mode(request, spec)
        if mode == "edit" and len(request.init_images) > spec.references:
            raise RequestError(f"{info.name} ({info.family_label}) takes {spec.references} reference picture(s) "
                               f"per edit, but {len(request.init_images)} were given.")
        job = _Job(request, loaded, _pipe_for(loaded, spec, mode), spec, control, infotext)
        if mode == "inpaint" and spec.references:  # Kontext: the first picture is inpainted, the next its reference
            prepared, job.references = flow_inpaint.with_references(request)
        controls = flow_control.prepare(request, models, loaded, spec, preprocessors)
        if controls is not None and controls.pipe is not None:
            job.pipe = controls.pipe
        _scheduler(job, request, loaded, warnings)
        guidance = guidance_kwargs(job.pipe, spec, request, warnings, info.family_label)
        job.extra = _infotext_extra(job.pipe, request, loaded.scheduler_config) | flow_loras.infotext(loras, models)
        if prepared is not None:
            warnings += prepared.warnings
            job.extra.update(prepared.params, Size=f"{prepared.width}x{prepared.height}")
            if job.references:
                job.extra["Edit references"] = len(job.references)
            if mode == "edit":  # an edit model draws anew from the instruction: there is no strength to apply
                job.extra.pop("Denoising strength", None)
                job.extra["Edit references"] = len(prepared.sources)
                warnings.append(f"Denoising strength does not apply to {info.family_label}: it redraws the picture "
                                "from the instruction and the reference.")
        job.hires = flow_hires.plan(request, loaded, spec, control, upscalers or UpscalerRegistry(), warnings,
                                    lambda cls: _derived_pipe(loaded, cls),
                                    lambda pipe, r: guidance_kwargs(pipe, spec, r, warnings, info.family_label),
                                    controls.at_hires if controls is not None else None)
        if job.hires is not None:
            job.control = job.hires.control
            job.extra.update(job.hires.infotext)
        if controls is not None:
            guidance = controls.call_kwargs(job.pipe, guidance)
            job.extra.update(controls.infotext)
        for batch_index in range(request.batch_count):
            if job.stop_requested():
                job.interrupted = True
                break
            start = batch_index * request.batch_size
            batch_seeds, batch_subseeds = seeds[start:start + request.batch_size], subseeds[start:start + request.batch_size]
            images = _run_batch(job, mode, prompt, prepared, guidance, batch_index, start, batch_seeds, batch_subseeds)
            for i, image in enumerate(images):
                job.add(image, batch_seeds[i], batch_subseeds[i])
            if job.stop_requested():
                job.interrupted = True
                break
            if control is not None:
                control.skip.clear()
    count = len(job.images)
    return GenerationResult(request=request, images=job.images, seeds=seeds[:count], subseeds=subseeds[:count],
                            infotexts=job.infotexts, interrupted=job.interrupted, warnings=warnings,
                            detected_maps=controls.maps if controls is not None else [])


def _run_batch(job: _Job, mode: str, prompt: str, prepared: inpainting.Prepared | None, guidance: dict[str, Any],
               batch_index: int, start: int, seeds: list[int], subseeds: list[int]) -> list[Image.Image]:
    request, pipe, n = job.request, job.pipe, len(seeds)
    common: dict[str, Any] = dict(prompt=prompt, num_images_per_prompt=n, num_inference_steps=request.steps,
                                  generator=cpu_generators(seeds), **guidance)
    if "callback_on_step_end" in _accepts(pipe):
        common["callback_on_step_end"] = _callback(job, batch_index, request.steps)
    if hasattr(pipe.scheduler, "generators"):
        # Euler a's own noise, per image: seeded like the image plus A1111's ENSD, so any picture of a batch repeats.
        pipe.scheduler.generators = cpu_generators(seeds, request.eta_noise_seed_delta)
    with torch.no_grad():
        if prepared is None:
            if job.spec.own_noise:
                common["latents"] = _noise(pipe, request, seeds, subseeds)
            if job.hires is None:
                return pipe(**common, height=request.height, width=request.width).images
            first = pipe(**common, height=request.height, width=request.width, **job.hires.first_pass_kwargs())
            return job.hires.run(pipe, first.images, batch_index, seeds,
                                 lambda steps: _callback(job, batch_index, steps))
        size = dict(height=prepared.height, width=prepared.width)
        if mode == "edit":
            references = [source.working for source in prepared.sources]
            if type(pipe).__name__.startswith("FluxKontext"):
                # The reference at the size asked for, not Kontext's preferred ~1 MP (which resizes the output too).
                size.update(max_area=prepared.width * prepared.height, _auto_resize=False)
            image = references if job.spec.references > 1 else references[0]
            return pipe(**common, image=image, **size).images
        # img2img and fill: the pipeline noises each picture with that image's seeded generator (the same draw as
        # txt2img's noise for that seed); 1 step at least, as A1111 runs.
        which = [(start + i) % len(prepared.sources) for i in range(n)]
        strength = min(1.0, max(request.denoising_strength, 1.0 / request.steps + 1e-6))
        if mode in ("fill", "inpaint"):
            common["mask_image"] = prepared.mask
        if mode == "inpaint" and job.spec.references:
            # Kontext's inpaint shows its transformer the reference, or without one the picture itself, beside the
            # masked latents; at the working size (not its preferred ~1 MP, which would resize the output too).
            size.update(max_area=prepared.width * prepared.height, _auto_resize=False)
            if job.references:
                common["image_reference"] = [job.references[0]] * n
        images = pipe(**common, image=[prepared.sources[j].working for j in which], strength=strength,
                      **size).images
    if request.color_correction:
        images = [match_colours(image, prepared.sources[j].working) for j, image in zip(which, images)]
    return [inpainting.finish(prepared.sources[j], image) for j, image in zip(which, images)]


def _infotext_extra(pipe: Any, request: GenerationRequest, scheduler_config: dict[str, Any]) -> dict[str, Any]:
    """The family's fields: Forge's "Distilled CFG Scale" (models with a guidance embedding only: it is what the
    model used) and the shift."""
    extra: dict[str, Any] = {}
    if "shift" in scheduler_config or "use_dynamic_shifting" in scheduler_config:
        extra["Shift"] = flow_samplers.shift_of(scheduler_config)
    if request.eta_noise_seed_delta and getattr(pipe.scheduler.config, "stochastic_sampling", False):
        extra["ENSD"] = request.eta_noise_seed_delta  # only where it changes the picture, as A1111 writes it
    if getattr(pipe.transformer.config, "guidance_embeds", False):
        distilled = request.distilled_cfg_scale
        extra["Distilled CFG Scale"] = DEFAULT_DISTILLED_CFG if distilled is None else distilled
    return extra
