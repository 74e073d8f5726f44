"""generate(request) -> GenerationResult: the engine's one entry point, for txt2img, img2img and inpaint.
No gradio, no HTTP, no files. Picture preparation and pasting back live in `inpainting`, pipeline choice in
`pipelines`, noise, VAE and the step callback in `latents`, the second pass in `hires` (which hands back a plan
that `generate` applies).

Progress, previews and interrupt go through an injected `JobControl`, checked in diffusers' step callback.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from typing import Any

import torch
from PIL import Image

from modules.core.infotext import format_infotext
from modules.core import additional_modules
from modules.core.prompts import LoraTag, extract_loras, prompt_hints
from modules.core.requests import IMAGE_MODES, VAE_AUTOMATIC, VAE_NONE, ControlUnit, GenerationRequest, RequestError
from modules.core.results import DetectedMap, GenerationResult, JobControl
from modules.core.detailer import infotext_params as detailer_infotext
from modules.engine import deepcache, hires, inpainting, pipelines, placement, previews, step_cache, taesd
from modules.engine import vae_decode
from modules.engine.detailer import Detectors, JobDetailer
from modules.engine import regions as regional
from modules.engine import soft_inpainting as soft
from modules.engine.color_correction import match_colours
from modules.engine.conditioning import StepConditioning, encode_schedule
from modules.engine.controlnet import apply as controlnet
from modules.engine.controlnet.preprocessors import PreprocessorRegistry
from modules.engine.faces.job import JobFaces, job_faces
from modules.engine.faces.restorers import FaceRestorers
from modules.engine.latents import cpu_generators, encode, make_noise, step_callback, tensor_inputs
from modules.engine import flow_generation
from modules.engine.models import families
from modules.engine.models.loras import LoraInfo
from modules.engine.models.manager import LoadedModel
from modules.engine.models.source import ModelSource
from modules.engine.refiner import Handover, Resume, handover, stopping
from modules.engine.samplers import SamplerRegistry
from modules.engine.upscaling import UpscalerRegistry

log = logging.getLogger(__name__)
VERSION = "sdwebui-0.1"


def infotext_params(request: GenerationRequest, loaded: LoadedModel, seed: int, subseed: int,
                    extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """A1111's parameters line; `extra` adds (or, for "Size", replaces) mode-specific entries."""
    info = loaded.info
    params: dict[str, Any] = {
        "Steps": request.steps,
        "Sampler": request.sampler,
        "Schedule type": request.schedule_type,
        "CFG scale": request.cfg_scale,
        "Seed": seed,
        **({"Face restoration": request.face_restorer} if request.restore_faces else {}),  # A1111's place for it
        "Size": f"{request.width}x{request.height}",
        "Model hash": info.short_hash,
        "Model": info.model_name,
    }
    if request.vae not in (VAE_AUTOMATIC, VAE_NONE, ""):
        params["VAE"] = request.vae
    # Forge's "Module N": the text-encoder and VAE files a Flux transformer file ran with, chosen or picked.
    params.update(additional_modules.infotext_params(m.name for m in info.parts if m.path != info.path))
    if request.subseed_strength > 0:
        params["Variation seed"] = subseed
        params["Variation seed strength"] = request.subseed_strength
    if request.clip_skip > 1:
        params["Clip skip"] = request.clip_skip
    if request.step_cache:  # lossy: the picture depends on it (engine/step_cache.py)
        params["Step cache"] = request.step_cache
    params.update(extra or {})
    params.update(request.infotext_fields)
    params["Version"] = VERSION
    return params


@dataclass
class _Run:
    """What every batch of one job shares, and what the batches have made so far."""

    request: GenerationRequest
    loaded: LoadedModel
    pipe: Any  # the diffusers pipeline of the mode
    control: JobControl | None
    factors: tuple[torch.Tensor, torch.Tensor] | None
    extra: dict[str, Any] = field(default_factory=dict)  # infotext additions of the mode
    controls: list[controlnet.ActiveControl] = field(default_factory=list)  # those acting in the (first) pass
    control_units: list[tuple[ControlUnit, controlnet.ActiveControl]] = field(default_factory=list)  # enabled ones
    preprocessors: PreprocessorRegistry | None = None
    images: list[Image.Image] = field(default_factory=list)
    infotexts: list[str] = field(default_factory=list)
    interrupted: bool = False
    hires: hires.SecondPass | None = None  # when the hires fix is on: each txt2img batch ends through it
    hr_maps: list[Image.Image | None] = field(default_factory=list)  # per enabled unit, when the hires fix is on
    faces: JobFaces | None = None  # restore_faces: applied to each finished picture (hires and refiner included)

    def restored(self, images: list[Image.Image]) -> list[Image.Image]:
        return self.faces.restore_all(images) if self.faces is not None else images
    refiner: Handover | None = None  # A1111's refiner; with the hires fix, the second pass's
    detail: JobDetailer | None = None  # detect and redraw: each finished picture, before its infotext and saving

    def add(self, image: Image.Image, seed: int, subseed: int) -> None:
        if self.detail is not None:
            image = self.detail(image, seed, subseed)
        self.images.append(image)
        extra = {**self.extra, **self.refiner.infotext()} if self.refiner else self.extra
        params = infotext_params(self.request, self.loaded, seed, subseed, extra)
        self.infotexts.append(format_infotext(self.request.prompt, self.request.negative_prompt, params))
        if self.control is not None and self.control.on_image is not None:
            self.control.on_image(len(self.images) - 1, image, seed, self.infotexts[-1])

    def callback(self, batch_index: int, steps: int, schedule: list[StepConditioning], batch_size: int
                 ) -> Callable[..., dict[str, Any]]:
        return step_callback(self.control, batch_index, self.request.batch_count, steps, self.factors, schedule,
                              batch_size)

    def batches(self, seeds: list[int], subseeds: list[int],
                run_batch: Callable[[int, int, list[int], list[int]], list[Image.Image]]) -> None:
        """run_batch(batch_index, first image index, seeds, subseeds) -> pictures, for each batch in turn."""
        size = self.request.batch_size
        for batch_index in range(self.request.batch_count):
            if self.control is not None and self.control.interrupt.is_set():
                # Interrupted before this batch began (while the model loaded, the prompt was read, or the last
                # batch was saved): stop here rather than start a batch only to throw its noise away.
                self.interrupted = True
                break
            start = batch_index * size
            batch_seeds, batch_subseeds = seeds[start:start + size], subseeds[start:start + size]
            if hasattr(self.pipe.scheduler, "noise_sampler_seed"):  # only the SDE samplers have one
                # One Brownian tree per image, seeded by that image's seed (a list, even for one image), so any
                # picture of a batch reproduces alone from its infotext seed, as in A1111.
                self.pipe.scheduler.noise_sampler_seed = list(batch_seeds)
            for i, image in enumerate(run_batch(batch_index, start, batch_seeds, batch_subseeds)):
                self.add(image, batch_seeds[i], batch_subseeds[i])
            if self.control is not None and self.control.interrupt.is_set():
                self.interrupted = True
                break
            if self.control is not None:
                self.control.skip.clear()


def _txt2img(run: _Run, prompt: str, seeds: list[int], subseeds: list[int]) -> None:
    request, pipe = run.request, run.pipe
    factor = pipe.vae_scale_factor
    shape = (pipe.vae.config.latent_channels, request.height // factor, request.width // factor)
    # A1111's prompt syntax (weights, BREAK, long prompts, [from:to:when]) becomes embeddings here;
    # the pipeline only ever sees prompt_embeds. Clip skip is applied by the encoder, as A1111 does.
    schedule = encode_schedule(pipe, prompt, request.negative_prompt, request.steps,
                               clip_skip=request.clip_skip, decimal_is_fraction=True)
    device, dtype = pipe.unet.device, pipe.unet.dtype

    def run_batch(batch_index: int, start: int, batch_seeds: list[int], batch_subseeds: list[int]) -> list:
        n = len(batch_seeds)
        latents = make_noise(shape, batch_seeds, batch_subseeds, request.subseed_strength).to(device, dtype)
        generators = cpu_generators(batch_seeds, request.eta_noise_seed_delta)
        callback = run.callback(batch_index, request.steps, schedule, n)
        # With the hires fix the refiner acts in the second pass only (A1111's default).
        switch = run.refiner.switch(request.steps) if run.refiner and not run.hires else None
        with controlnet.attached(pipe, run.controls):
            images = pipe(
                **schedule[0].pipe_kwargs(n), height=request.height, width=request.width,
                num_inference_steps=request.steps, guidance_scale=request.cfg_scale, latents=latents,
                generator=generators,
                **_eta(request),
                callback_on_step_end=stopping(callback, switch * pipe.scheduler.order) if switch else callback,
                callback_on_step_end_tensor_inputs=tensor_inputs(pipe),
                output_type="latent" if run.hires or switch else "pil",
            ).images
        if run.refiner and switch:
            return run.refiner.finish(images, Resume(
                base_pipe=pipe, base_info=run.loaded.info, kind=pipelines.IMG2IMG, scheduler=pipe.scheduler,
                total=request.steps, runs=request.steps, switch=switch, prompt=prompt,
                negative=request.negative_prompt, cfg=request.cfg_scale, generators=generators,
                make_callback=lambda refined: run.callback(batch_index, request.steps, refined, n),
                control=run.control, mode_kwargs=_eta(request), controls=run.controls))
        return run.hires.run_batch(images, batch_index, batch_seeds, batch_subseeds) if run.hires else images

    run.batches(seeds, subseeds, lambda *batch: run.restored(run_batch(*batch)))


def img2img_steps(steps: int, strength: float) -> tuple[float, int, str | None]:
    """(strength to pass, steps that run, note): diffusers runs int(steps * strength) steps, at least 1 here."""
    ran = min(int(steps * strength), steps)
    if ran >= 1:
        return strength, ran, None
    # Just over 1/steps, so diffusers' int(steps * strength) is 1 despite rounding; never over 1, which diffusers
    # refuses (with 1 step that one step is the whole schedule, from full noise, as in A1111).
    note = (f"Denoising strength {strength:g} with {steps} steps leaves no step to run: ran 1 step "
            f"(as strength {min(1.0, 1 / steps):.3g}). Raise the steps or the strength.")
    return min(1.0, 1.0 / steps + 1e-6), 1, note


def _from_pictures(run: _Run, prompt: str, prepared: inpainting.Prepared, kind: str, seeds: list[int],
                   subseeds: list[int], warnings: list[str]) -> None:
    """img2img and inpaint batches: image i starts from prepared.sources[i % n], noised with its own seed."""
    request, pipe = run.request, run.pipe
    txt2img = request.mode == "txt2img"  # only on a 9-channel UNet: an inpaint of a blank canvas
    strength, steps, note = img2img_steps(request.steps, 1.0 if txt2img else request.denoising_strength)
    total = request.steps
    if request.img2img_fix_steps and not txt2img and strength < 1.0:
        # A1111's "With img2img, do exactly the amount of steps the slider specifies": a longer schedule, of which
        # the last `steps` run (A1111 divides by the strength the same way, capped at 0.999).
        total = min(int(request.steps / min(strength, 0.999)), 10_000)
        strength, steps = min(1.0, request.steps / total + 1e-6), request.steps
    elif note:
        warnings.append(note)
    fill = inpainting.LATENT_NOTHING if txt2img else request.inpainting_fill
    sources, width, height = prepared.sources, prepared.width, prepared.height
    factor = pipe.vae_scale_factor
    shape = (pipe.vae.config.latent_channels, height // factor, width // factor)
    schedule = encode_schedule(pipe, prompt, request.negative_prompt, steps, clip_skip=request.clip_skip,
                               decimal_is_fraction=True)
    pictures = [encode(pipe, s.working) for s in sources]
    settings = request.soft_inpainting if prepared.mask is not None and not txt2img else None
    # Soft inpainting: the pipeline's own (binary) mask covers every pixel that may change; the grey levels act
    # in the step callback and the final paste.
    mask_image = soft.hard_mask(prepared.mask) if settings else prepared.mask
    mask = None if prepared.mask is None else pipelines.latent_mask(mask_image, shape[1], shape[2])
    grey = soft.latent_mask(prepared.mask, shape[1], shape[2]) if settings else None
    nine = pipelines.unet_channels(pipe) == 9  # the UNet also sees the mask and the picture without the masked part
    if nine and request.inpainting_mask_weight < 1.0:
        run.extra["Conditional mask weight"] = request.inpainting_mask_weight
    masked = ([encode(pipe, _conditioning_picture(s.working, mask_image, request.inpainting_mask_weight))
               for s in sources] if nine else [])

    def run_batch(batch_index: int, start: int, batch_seeds: list[int], batch_subseeds: list[int]) -> list:
        n = len(batch_seeds)
        which = [(start + i) % len(sources) for i in range(n)]
        noise = make_noise(shape, batch_seeds, batch_subseeds, request.subseed_strength)
        init = pipelines.masked_content(torch.cat([pictures[j] for j in which]).float(), noise, mask, fill)
        kwargs: dict[str, Any] = {}
        if kind == pipelines.INPAINT:
            # A 4-channel UNet ignores masked_image_latents; passing any 4-channel tensor spares a VAE encode.
            kwargs.update(mask_image=mask_image, height=height, width=width,
                          masked_image_latents=torch.cat([masked[j] for j in which]) if nine else init)
        generators = cpu_generators(batch_seeds, request.eta_noise_seed_delta)
        callback = run.callback(batch_index, steps, schedule, n)
        if settings is not None:
            callback = soft.wrap_callback(callback, settings, torch.cat([pictures[j] for j in which]), noise, grey)
        switch = run.refiner.switch(steps) if run.refiner else None
        with pipelines.starting_from(pipe, init, noise), controlnet.attached(pipe, run.controls):
            output = pipe(
                **schedule[0].pipe_kwargs(n), image=[sources[j].working for j in which], strength=strength,
                num_inference_steps=total, guidance_scale=request.cfg_scale,
                generator=generators,
                **_eta(request),
                callback_on_step_end=stopping(callback, switch * pipe.scheduler.order) if switch else callback,
                callback_on_step_end_tensor_inputs=tensor_inputs(pipe), output_type="latent" if switch else "pil",
                **pipelines.aesthetic(pipe, **pipelines.aesthetic_scores(request)), **kwargs)
        if run.refiner and switch:
            output.images = run.refiner.finish(output.images, Resume(
                base_pipe=pipe, base_info=run.loaded.info, kind=kind, scheduler=pipe.scheduler, total=total,
                runs=steps, switch=switch, prompt=prompt, negative=request.negative_prompt, cfg=request.cfg_scale,
                generators=generators, make_callback=lambda refined: run.callback(batch_index, steps, refined, n),
                control=run.control, init=init, noise=noise, controls=run.controls,
                mode_kwargs={**kwargs, **_eta(request), "image": [sources[j].working for j in which]}))
        output.images = run.restored(output.images)  # before colour correction and the overlay, as in A1111
        if request.color_correction:
            output.images = [match_colours(image, sources[j].working) for j, image in zip(which, output.images)]
        if settings is not None:
            return [soft.finish(sources[j], image, prepared.mask, settings) for j, image in zip(which, output.images)]
        return [inpainting.finish(sources[j], image) for j, image in zip(which, output.images)]

    run.batches(seeds, subseeds, run_batch)


def _conditioning_picture(picture: Image.Image, mask: Image.Image, weight: float) -> Image.Image:
    """What an inpainting checkpoint is shown of the picture: the masked part hidden by `weight` (A1111's
    "Inpainting conditioning mask strength"; 1 hides it fully, 0 shows the whole picture)."""
    hidden = pipelines.masked_picture(picture, mask)
    return hidden if weight >= 1.0 else Image.blend(picture.convert("RGB"), hidden, weight)


def _unchanged(run: _Run, prepared: inpainting.Prepared, seeds: list[int], subseeds: list[int]) -> None:
    """Denoising strength 0: the input as it is (resized to the working size in whole-picture modes)."""
    for i, (seed, subseed) in enumerate(zip(seeds, subseeds)):
        source = prepared.sources[i % len(prepared.sources)]
        image = source.original.copy() if run.faces is None else inpainting.finish(source, run.faces(source.working))
        run.add(image, seed, subseed)


def _flow_with_memory(request: GenerationRequest, models: ModelSource, control: JobControl | None,
                      upscalers: UpscalerRegistry | None = None,
                      preprocessors: PreprocessorRegistry | None = None) -> GenerationResult:
    """The flow families' run, with the memory policy, quantisation and peak in the result as for the UNet families."""
    with models.use(request.checkpoint, request.vae,  # loads it now (or finds it cached) for its placement
                    modules=request.additional_modules) as loaded:
        where, device, transformer = loaded.placement, loaded.pipe._execution_device, loaded.pipe.transformer
        family = loaded.info.family
    with placement.measured(device) as peak, step_cache.cached(transformer, request.step_cache, request.steps, family):
        result = flow_generation.generate(request, models, control, infotext_params, upscalers, preprocessors)
    return replace(result, memory={**placement.job_details(where, peak[0] if peak else None), **result.memory})


def generate(request: GenerationRequest, models: ModelSource, samplers: SamplerRegistry,
             control: JobControl | None = None, preprocessors: PreprocessorRegistry | None = None,
             upscalers: UpscalerRegistry | None = None, faces: FaceRestorers | None = None,
             vae_tiling: str = "auto", tiny: taesd.TinyDecoders | None = None,
             preview_method: str = previews.TAESD, detectors: Detectors | None = None) -> GenerationResult:
    """Run a validated request to images and infotexts (saving is the caller's job). `preprocessors` is the
    app's ControlNet PreprocessorRegistry (extensions may have added to it); the built-in one when None.
    `upscalers` serves the hires fix; the built-in upscalers when None. `faces` serves restore_faces.
    `vae_tiling` (auto / on / off) says when the VAE decodes in tiles (see `vae_decode`). `tiny` serves the
    tiny decoders of models/VAE-approx: previews when `preview_method` is TAESD, and the request's
    `vae_decode_method` TAESD. The result's `memory` tells the memory policy and the job's peak."""
    request = request.with_resolved_seeds()
    if families.is_flow(models.resolve(request.checkpoint).family):  # Flux, SD 3.x: their own path
        return _flow_with_memory(request, models, control, upscalers, preprocessors)
    if request.step_cache:
        raise RequestError(f"Step caches ({request.step_cache}) are for transformer models such as Flux; for SD "
                           "1.x/2.x/XL use DeepCache (its interval) instead.")
    seeds, subseeds = request.seeds(), request.subseeds()
    prompt, tags, warnings = extract_loras(request.prompt)
    loras = _loras(tags, models, warnings)
    region_plan = regional.plan(request, models, warnings)
    warnings += [h for h in prompt_hints(request.prompt) if h not in warnings]
    if request.distilled_cfg_scale is not None:  # Forge's Flux field, sent to an SD checkpoint: say so, never drop it
        warnings.append("Distilled CFG Scale has no effect on SD 1.x/2.x/XL checkpoints (it feeds Flux's guidance "
                        "embedding); CFG scale is their guidance.")
    prepared = inpainting.prepare(request) if request.mode in IMAGE_MODES else None
    if prepared is not None:
        warnings += prepared.warnings
    with models.use(request.checkpoint, request.vae, loras + regional.idle_entries(region_plan, loras)) as loaded, \
            regional.installed(loaded.pipe, region_plan, request, loaded.info.family_label), \
            _decoding(request, loaded, tiny, vae_tiling, warnings), \
            placement.measured(loaded.pipe._execution_device) as peak, \
            deepcache.cached(getattr(loaded.pipe, "unet", None), request.deepcache_interval):
        route = pipelines.route(request.mode, loaded.pipe, loaded.info.name)
        if route.note:
            warnings.append(route.note)
        if route.kind != request.mode:
            prepared = inpainting.whole_canvas(request, prepared)
        run = _Run(request, loaded, loaded.pipe, control, _previewer(loaded, control, tiny, preview_method))
        run.faces = job_faces(request, faces)
        if prepared is not None:
            run.extra = dict(prepared.params, Size=f"{prepared.width}x{prepared.height}")
        run.extra.update(_fast_path_infotext(request))
        if request.control_units:
            _prepare_controls(run, models, preprocessors or PreprocessorRegistry.default(), prepared)
        _use_embeddings(run, models, regional.with_texts(prompt, region_plan), warnings)
        run.extra.update(regional.infotext(region_plan))
        run.refiner = handover(request, models, loras, warnings)
        if request.detailer:  # ADetailer's units; `detectors` None: the built-in face detector only
            run.detail = JobDetailer(request, detectors or Detectors(None), _region_inpainter(run, samplers, warnings))
            run.extra.update(detailer_infotext(request.detailer))
        if loras or region_plan:
            # A1111's field: "name: hash" with the 12-digit hash of the weights (metadata edits don't change it).
            named = [info for info, _, _ in loras] + regional.idle_loras(region_plan, loras)
            if named:
                run.extra["Lora hashes"] = ", ".join(f"{info.name}: {models.lora_hash(info)[:12]}" for info in named)
        if route.kind == pipelines.TXT2IMG:
            _prepare_scheduler(run, samplers)
            _apply_hires(run, hires.plan(hires.FirstPass(run.request, loaded, run.control, run.factors,
                                                         run.control_units, run.preprocessors),
                                         models, samplers, upscalers or UpscalerRegistry(), route.kind, warnings))
            _txt2img(run, prompt, seeds, subseeds)
        elif request.mode != "txt2img" and request.denoising_strength == 0:
            _unchanged(run, prepared, seeds, subseeds)
        else:
            run.pipe = pipelines.derive(loaded, route.kind)
            _prepare_scheduler(run, samplers)
            _from_pictures(run, prompt, prepared, route.kind, seeds, subseeds, warnings)
    if run.faces is not None:
        warnings += run.faces.notes()
    if run.detail is not None:
        warnings += run.detail.notes()
    count = len(run.images)
    return GenerationResult(request=run.request, images=run.images, seeds=seeds[:count], subseeds=subseeds[:count],
                            infotexts=run.infotexts, interrupted=run.interrupted, warnings=warnings,
                            detected_maps=_detected_maps(run),
                            memory=placement.job_details(loaded.placement, peak[0] if peak else None))


def _region_inpainter(run: _Run, samplers: SamplerRegistry, warnings: list[str]
                      ) -> Callable[[GenerationRequest], Image.Image]:
    """Detect and redraw's inpaint of one region, with the job's loaded model, LoRAs and VAE. The shared inpaint
    pipeline's scheduler is put back after, so the job's own next batch samples as it would have."""
    job_loras = {tag.name for tag in extract_loras(run.request.prompt)[1]}

    def inpaint(region: GenerationRequest) -> Image.Image:
        prompt, tags, _ = extract_loras(region.prompt)
        missing = sorted({tag.name for tag in tags} - job_loras)
        note = (f"ADetailer prompt: the LoRA {', '.join(missing)} acts only when the main prompt names it; "
                "here it was left out.")
        if missing and note not in warnings:
            warnings.append(note)
        kind = pipelines.route(pipelines.INPAINT, run.loaded.pipe, run.loaded.info.name).kind
        pipe = pipelines.derive(run.loaded, kind)
        saved = pipe.scheduler
        control = None if run.control is None else JobControl(interrupt=run.control.interrupt)
        sub = _Run(region, run.loaded, pipe, control, None)
        try:
            _prepare_scheduler(sub, samplers)
            _from_pictures(sub, prompt, inpainting.prepare(region), kind, [region.seed], [region.subseed], [])
        finally:
            pipe.scheduler = saved
        return sub.images[0] if sub.images else region.init_images[0]  # interrupted: the picture as it was

    return inpaint


def _loras(tags: list[LoraTag], models: ModelSource, warnings: list[str]) -> list[tuple[LoraInfo, float, float]]:
    """(LoRA, text-encoder weight, UNet weight) per distinct LoRA of the prompt; unknown names only warn."""
    loras: list[tuple[LoraInfo, float, float]] = []
    for tag in tags:
        info = models.find_lora(tag.name)
        if info is None:
            warnings.append(f"LoRA {tag.name!r} not found in the Lora folder: the tag was ignored.")
        elif any(seen is info for seen, _, _ in loras):  # the same LoRA twice: A1111 adds the weights
            loras = [(i, te + tag.te_weight, unet + tag.unet_weight) if i is info else (i, te, unet)
                     for i, te, unet in loras]
        else:
            loras.append((info, tag.te_weight, tag.unet_weight))
    return loras


def _fast_path_infotext(request: GenerationRequest) -> dict[str, Any]:
    """The lossy fast paths change the picture, so the infotext names them (and pasting it back restores them)."""
    params: dict[str, Any] = {}
    if request.vae_decode_method == taesd.DECODE_TAESD:
        params["Decode method"] = taesd.DECODE_TAESD
    if request.deepcache_interval:
        params["DeepCache interval"] = request.deepcache_interval
    return params


def _decoding(request: GenerationRequest, loaded: LoadedModel, tiny: taesd.TinyDecoders | None, vae_tiling: str,
              warnings: list[str]) -> AbstractContextManager[None]:
    """How this job's pictures are decoded: the tiny decoder (Decode method TAESD), or the VAE, tiled when needed."""
    if request.vae_decode_method != taesd.DECODE_TAESD:
        return vae_decode.guarded(loaded.pipe.vae, vae_tiling, warnings)
    model = tiny.get(loaded.info.family) if tiny is not None else None
    if model is None:
        raise taesd.TinyDecoderError(taesd.missing_message(loaded.info.family, loaded.info.family_label,
                                                           tiny.folder if tiny else None))
    return taesd.decoding_with(loaded.pipe.vae, model)


def _previewer(loaded: LoadedModel, control: JobControl | None, tiny: taesd.TinyDecoders | None,
               method: str) -> previews.Previewer | None:
    """TAESD previews when asked and the family's tiny decoder is there; else the linear approximation."""
    if control is None or not control.preview_every:
        return None
    if method == previews.TAESD and tiny is not None:
        try:
            model = tiny.get(loaded.info.family)
        except taesd.TinyDecoderError as exc:  # a broken file costs the job its fine previews, not its pictures
            log.warning("previews fall back to the linear approximation: %s", exc)
            model = None
        if model is not None:
            return previews.TinyPreview(model)
    folder = loaded.info.path if loaded.info.kind == "diffusers" else None
    return previews.factors_for(loaded.info.family, folder)


def _use_embeddings(run: _Run, models: ModelSource, prompt: str, warnings: list[str]) -> None:
    """Textual inversions named in the prompts, loaded into this checkpoint's tokenizer."""
    request = run.request
    # The hires pass's own prompts too: an embedding named only there must be loaded as well.
    texts = (prompt, request.negative_prompt) + ((request.hr_prompt, request.hr_negative_prompt)
                                                 if request.enable_hr else ())
    texts += tuple(text for unit in request.detailer for text in (unit.prompt, unit.negative_prompt))
    used, notes = models.use_embeddings(run.loaded, "\n".join(texts))
    warnings += notes
    if used:
        run.extra["TI hashes"] = ", ".join(f"{name}: {short}" for name, short in used)


def _apply_hires(run: _Run, plan: hires.HiresPlan | None) -> None:
    if plan is None:
        return
    run.request, run.controls, run.control = plan.request, plan.first_controls, plan.control
    run.extra.update(plan.infotext)
    run.hires = plan.second
    run.hires.refiner = run.refiner
    run.hr_maps = plan.hr_maps


def _detected_maps(run: _Run) -> list[DetectedMap]:
    """Each enabled unit's map, once per job, as sd-webui-controlnet appends them: unit by unit, the second
    pass's map before the first's when the hires fix runs; none for a unit with `save_detected_map` off. The
    `none` preprocessor's map (the unit's picture fitted to the output) is returned too, as the extension does."""
    maps: list[DetectedMap] = []
    for index, (unit, active) in enumerate(run.control_units):
        if not unit.save_detected_map or run.preprocessors is None or not active.residuals:
            continue  # an IP-Adapter unit has no map: its picture goes to CLIP as it is (sd-webui-controlnet too)
        module = run.preprocessors.canonical(unit.module)  # "invert (from white bg & black line)" -> "invert"
        hr_map = run.hr_maps[index] if index < len(run.hr_maps) else None
        if hr_map is not None:
            maps.append(DetectedMap(index, module, hr_map))
        maps.append(DetectedMap(index, module, active.image))
    return maps


def _prepare_controls(run: _Run, models: ModelSource, preprocessors: PreprocessorRegistry,
                      prepared: inpainting.Prepared | None) -> None:
    request = run.request
    width, height = (prepared.width, prepared.height) if prepared is not None else (request.width, request.height)
    fallback = prepared.sources[0].working if prepared is not None else None
    run.preprocessors = preprocessors
    pairs = controlnet.prepare(request.control_units, models, run.loaded.info, preprocessors, width, height,
                               fallback)
    run.control_units = pairs
    run.controls = [active for _, active in pairs]  # the hires plan narrows this to the first pass's units
    for index, (unit, active) in enumerate(pairs):
        key, value = active.infotext(unit, index)  # the hires plan adds "Hr Option" when a second pass runs
        run.extra[key] = value


def _prepare_scheduler(run: _Run, samplers: SamplerRegistry) -> None:
    run.pipe.scheduler = samplers.make_scheduler(run.request.sampler, run.request.schedule_type,
                                                 run.loaded.scheduler_config, noise_seed=run.request.seed)
    request = run.request
    # A1111 writes ENSD only where it changes the picture: samplers that add noise of their own while sampling.
    if request.eta_noise_seed_delta and _draws_noise(run.pipe.scheduler, request):
        run.extra["ENSD"] = request.eta_noise_seed_delta
    # TCD takes the same eta as its gamma, so it changes TCD's picture too and has to be written down.
    if request.eta_ddim and type(run.pipe.scheduler).__name__ in ("DDIMScheduler", "TCDScheduler"):
        run.extra["Eta DDIM"] = request.eta_ddim


def _draws_noise(scheduler: Any, request: GenerationRequest) -> bool:
    """Whether the scheduler draws from the job's generators while sampling (what ENSD re-seeds)."""
    name = type(scheduler).__name__
    if "Ancestral" in name or name in ("LCMScheduler", "TCDScheduler"):  # TCD: unless gamma is 0
        return True
    if name == "DDIMScheduler":
        return request.eta_ddim > 0
    return str(getattr(scheduler.config, "algorithm_type", "")).startswith("sde")


def _eta(request: GenerationRequest) -> dict[str, Any]:
    """DDIM's eta for the pipeline call (the pipelines hand it only to schedulers whose step takes one)."""
    return {"eta": request.eta_ddim} if request.eta_ddim else {}
